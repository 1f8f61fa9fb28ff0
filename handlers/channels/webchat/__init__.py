"""The web chat served by our own server (chat.py, static/webchat/) and the one-time upload page
for channels that cannot carry a document (upload_page.py, static/upload/)."""
