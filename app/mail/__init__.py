"""Mail: composing account, alert and digest mails from templates, queueing them, and
delivering them over SMTP (workers and inline mode)."""
