"""Message content on the api-data.line.me paths, and the controls that put content there."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from sandbox.line import contents, images
from sandbox.line.deps import api_channel, get_simulator, get_state
from sandbox.line.errors import not_found
from sandbox.line.models import SandboxChannel
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState

router = APIRouter()

State = Annotated[SandboxState, Depends(get_state)]
Sim = Annotated[Simulator, Depends(get_simulator)]


@router.get("/v2/bot/message/{message_id}/content")
def get_message_content(
    message_id: str, state: State, channel: SandboxChannel = api_channel("getMessageContent")
) -> Response:
    """The content a user sent: 202 (empty) while a video or audio is still being prepared."""
    content = state.contents.get(channel.channel_id, message_id, state.clock())
    if not contents.downloadable(content):
        return Response(status_code=202)
    return Response(content.data, media_type=content.content_type)


@router.get("/v2/bot/message/{message_id}/content/preview")
def get_message_content_preview(
    message_id: str,
    state: State,
    channel: SandboxChannel = api_channel("getMessageContentPreview"),
) -> Response:
    """A preview of an image or video (the sandbox serves the image itself, or a still)."""
    content = state.contents.get(channel.channel_id, message_id, state.clock())
    if content.kind == "image":
        return Response(content.data, media_type=content.content_type)
    if content.kind == "video" and contents.downloadable(content):
        return Response(contents.sample_png(), media_type="image/png")
    raise not_found()


@router.get("/v2/bot/message/{message_id}/content/transcoding")
def get_message_content_transcoding_by_message_id(
    message_id: str,
    state: State,
    channel: SandboxChannel = api_channel("getMessageContentTranscodingByMessageId"),
) -> dict[str, str]:
    """How far LINE has prepared a video or audio: processing, succeeded or failed."""
    content = state.contents.get(channel.channel_id, message_id, state.clock())
    if content.kind not in ("video", "audio"):
        raise not_found()
    return {"status": content.transcoding}


class MediaIn(BaseModel):
    """An image, video, audio or file a simulated user sends; ``data_base64`` is its content
    (a small picture by default), ``external_url`` an image hosted outside LINE."""

    kind: Literal["image", "video", "audio", "file"]
    data_base64: str | None = Field(None, max_length=64 * 1024 * 1024)
    content_type: str | None = None
    file_name: str = "document.pdf"
    duration_ms: int = Field(3000, ge=0)
    external_url: str | None = None
    preview_url: str | None = None
    transcoding: Literal["processing", "succeeded", "failed"] = "succeeded"
    channel_id: str | None = None


class TranscodingIn(BaseModel):
    status: Literal["processing", "succeeded", "failed"]


@router.post("/sandbox/users/{user_id}/send-media")
def send_media(user_id: str, body: MediaIn, sim: Sim) -> dict[str, Any]:
    """The user sends the bot an image, video, audio or file."""
    try:
        data = base64.b64decode(body.data_base64, validate=True) if body.data_base64 else None
    except binascii.Error:
        raise HTTPException(422, "data_base64 is not base64") from None
    try:
        delivery = sim.send_media(
            user_id,
            body.kind,
            data=data,
            content_type=body.content_type,
            file_name=body.file_name,
            duration_ms=body.duration_ms,
            external_url=body.external_url,
            preview_url=body.preview_url,
            transcoding=body.transcoding,
            channel_id=body.channel_id,
        )
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"status_code": delivery.status_code, "error": delivery.error, "events": delivery.events}


@router.post("/sandbox/contents/{message_id}/transcoding", status_code=204)
def set_transcoding(message_id: str, body: TranscodingIn, state: State) -> None:
    """Finish (or fail) the preparation of a video or audio."""
    try:
        state.contents.set_transcoding(message_id, body.status)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@router.post("/sandbox/contents/{message_id}/expire", status_code=204)
def expire_content(message_id: str, state: State) -> None:
    """Delete a message's content now, as LINE does after its keeping period."""
    try:
        state.contents.expire(message_id)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from None


@router.get("/sandbox/users/{user_id}/messages/{message_id}/image", response_class=Response)
def open_image(
    user_id: str,
    message_id: str,
    state: State,
    which: Literal["original", "preview"] = "original",
) -> Response:
    """What the user's app shows for an image message it received: LINE fetches the image
    from the sender's address then (502 when it would show broken)."""
    found = next((m for m in state.inbox(user_id) if m.message_id == message_id), None)
    if found is None or found.message.get("type") != "image":
        raise HTTPException(404, f"user {user_id} received no image message {message_id}")
    field: images.Which = "originalContentUrl" if which == "original" else "previewImageUrl"
    data, content_type = images.fetch(found.message, field)
    return Response(data, media_type=content_type)
