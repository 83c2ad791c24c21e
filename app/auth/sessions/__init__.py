"""Sessions: the login states, cookies only for pages, and what a live poll may trust."""
