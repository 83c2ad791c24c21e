"""An app's settings pages: keys and members, background work (alerts, webhook,
retention), and the Post/Redirect/Get their forms share."""
