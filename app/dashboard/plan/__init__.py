"""The tracking plan: its page (editor, versions, try-it, diff, infer, impact) and JSON."""
