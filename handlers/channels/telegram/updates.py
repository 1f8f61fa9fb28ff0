"""What a Telegram update holds, read without trusting it.

PTB builds an `Update` from whatever JSON arrives (a webhook is reachable by anyone who finds
the path, and a fake or buggy server can send anything), so the adapter asks here first whether
an update is well formed, and reads a message's file here: the engine receives a `FileRef` sized
from Telegram's metadata and fetches the bytes only if the step wants them.
"""

from __future__ import annotations

from telegram import Bot, Message, Update

from conversations.messages import FileRef

DOWNLOAD_TIMEOUT = 60.0  # seconds for one file from Telegram (20 MB at most)


def well_formed(update: Update) -> bool:
    """False for ids that are not integers, a message without its chat, a text or name that is
    not a string: they would break per-user locks, the runtime's text cleaning or the engine."""
    if not isinstance(update.update_id, int):
        return False
    for who in (update.effective_user, update.effective_chat):
        if who is not None and (not isinstance(who.id, int) or isinstance(who.id, bool)):
            return False
    user = update.effective_user
    if user is not None and not (
        isinstance(user.language_code, str | None)
        and isinstance(user.first_name, str)
        and isinstance(user.last_name, str | None)
    ):
        return False
    message = update.effective_message
    if message is not None and (
        getattr(message, "chat", None) is None
        or not isinstance(message.message_id, int)
        or not isinstance(getattr(message, "text", None), str | None)
    ):
        return False
    query = update.callback_query
    return query is None or (query.from_user is not None and isinstance(query.data, str | None))


def file_of(bot: Bot, message: Message) -> FileRef | None:
    """The file in a message (a document, the largest photo, or media the engine refuses by
    type with its usual explanation); None for what holds no file (a sticker, a location)."""
    if message.document is not None:
        d = message.document
        return _file_ref(bot, d.file_id, d.file_name or "document", d.mime_type, d.file_size)
    if message.photo:
        photo = message.photo[-1]  # the largest size Telegram made
        return _file_ref(
            bot, photo.file_id, f"photo_{photo.file_unique_id}.jpg", "image/jpeg", photo.file_size
        )
    for media, name in (
        (message.video, "video"),
        (message.audio, "audio"),
        (message.voice, "voice.ogg"),
        (message.video_note, "video_note.mp4"),
    ):
        if media is not None:
            filename = getattr(media, "file_name", None) or name
            return _file_ref(bot, media.file_id, filename, getattr(media, "mime_type", None), media.file_size)
    return None


def _file_ref(bot: Bot, file_id: str, filename: str, content_type: str | None, size: int | None) -> FileRef:
    async def read() -> bytes:
        tg_file = await bot.get_file(file_id)
        return bytes(await tg_file.download_as_bytearray(read_timeout=DOWNLOAD_TIMEOUT))

    return FileRef(
        filename=filename,
        content_type=content_type or "application/octet-stream",
        size=size or 0,  # unknown is rare; the engine checks the bytes' length after reading too
        read=read,
    )
