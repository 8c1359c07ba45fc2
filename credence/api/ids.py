"""Opaque ids: the global (Relay) id of a user and the cursors of paged fields.

The API never guesses what kind of id it was given. An argument the schema types
``ID`` (``node(id:)``) is a global id and is decoded with :func:`from_global_id`;
every other argument that names a user (``user(id:)``, ``source``, ``target``,
``a``, ``b``, ``user``, ``users``, ``removeUsers``, ``removeLinks``, ``userId``,
input ``user`` fields) is the user id exactly as stored and is only validated
(:func:`~credence.graph.model.check_user_id`). A user id may look like anything,
including a global id, so no id format is inspected to tell the two apart.

Cursors are url-safe base64 of a small JSON object tagged with the kind of page
they belong to; a cursor of another kind, or one the API did not issue, is
BAD_USER_INPUT naming the argument it came in (``after`` or ``before``). A cursor
is a position, not a direction: any edge's cursor can be sent back as ``after`` (the
items following it) or as ``before`` (the items preceding it).

Examples
--------
>>> from_global_id(to_global_id("u0000042"))
'u0000042'
>>> history_position(encode_cursor("history", {"p": 3}))
3
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from credence.core.errors import ValidationError

__all__ = [
    "audit_position",
    "decode_cursor",
    "dispute_position",
    "encode_cursor",
    "friends_position",
    "from_global_id",
    "history_position",
    "to_global_id",
]


# --------------------------------------------------------------------------- global ids


def to_global_id(user_id: str) -> str:
    """The opaque global id of a user (what ``User.id`` answers and ``node(id:)`` takes).

    Parameters
    ----------
    user_id
        The user id as stored.

    Returns
    -------
    str
        Url-safe base64 of ``User:<user_id>``, without padding.

    Examples
    --------
    >>> to_global_id("u0000042")
    'VXNlcjp1MDAwMDA0Mg'
    """
    return base64.urlsafe_b64encode(f"User:{user_id}".encode()).decode().rstrip("=")


def from_global_id(node_id: str) -> str:
    """The user id inside a global id from :func:`to_global_id`.

    Parameters
    ----------
    node_id
        A global id, as ``node(id:)`` receives it.

    Returns
    -------
    str
        The user id it names (not checked against the store).

    Raises
    ------
    ValidationError
        If ``node_id`` is not a global id of a user.

    Examples
    --------
    >>> from_global_id("VXNlcjp1MDAwMDA0Mg")
    'u0000042'
    >>> from_global_id("u0000042")
    Traceback (most recent call last):
    ...
    credence.core.errors.ValidationError: node, column 'id' (value 'u0000042'): not a node id
    """
    try:
        raw = base64.urlsafe_b64decode((node_id + "=" * (-len(node_id) % 4)).encode()).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("not a node id", entity="node", column="id", value=node_id) from None
    kind, _, key = raw.partition(":")
    if kind != "User" or not key:
        raise ValidationError("not a node id", entity="node", column="id", value=node_id)
    return key


# --------------------------------------------------------------------------- cursors


def encode_cursor(kind: str, payload: dict[str, Any]) -> str:
    """An opaque cursor: url-safe base64 of a small JSON object.

    Parameters
    ----------
    kind
        The kind of page (``"users"``, ``"history"``, ``"friends"``, ``"audit"``).
    payload
        JSON-serialisable position of one item of the page.

    Returns
    -------
    str
        The cursor, without padding.

    Examples
    --------
    >>> decode_cursor(encode_cursor("users", {"k": [700, "a"]}), "users")
    {'k': [700, 'a']}
    """
    raw = json.dumps({"t": kind, **payload}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, argument: str = "after") -> dict[str, Any]:
    """The payload of a cursor from :func:`encode_cursor`.

    Parameters
    ----------
    cursor
        The cursor a client sent back (an ``after`` or ``before`` argument).
    kind
        The kind of page the cursor must belong to.
    argument
        The argument the cursor came in, named in the error.

    Returns
    -------
    dict
        The payload given to :func:`encode_cursor`.

    Raises
    ------
    ValidationError
        If ``cursor`` is not a cursor this API issued, or one of another kind.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "not a cursor this API issued", entity="cursor", column=argument, value=cursor
        ) from None
    if not isinstance(data, dict) or data.pop("t", None) != kind:
        raise ValidationError(f"not a {kind} cursor", entity="cursor", column=argument, value=cursor)
    return data


def _malformed(cursor: str, argument: str) -> ValidationError:
    return ValidationError("malformed cursor", entity="cursor", column=argument, value=cursor)


def history_position(cursor: str, argument: str = "after") -> int:
    """The snapshot position (counted from the oldest) in a ``User.history`` cursor.

    Raises
    ------
    ValidationError
        If ``cursor`` is not a history cursor holding a position >= 0.
    """
    position = decode_cursor(cursor, "history", argument).get("p")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise _malformed(cursor, argument)
    return position


def friends_position(cursor: str, argument: str = "after") -> str:
    """The last friend's user id in a ``User.friends`` cursor.

    Raises
    ------
    ValidationError
        If ``cursor`` is not a friends cursor holding a user id.
    """
    last = decode_cursor(cursor, "friends", argument).get("k")
    if not isinstance(last, str):
        raise _malformed(cursor, argument)
    return last


def _id_position(cursor: str, kind: str, argument: str) -> int:
    """The stored id (an integer in ``[0, 2**63)``) in a keyset cursor of ``kind``."""
    start = decode_cursor(cursor, kind, argument).get("id")
    if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start < 2**63:
        raise _malformed(cursor, argument)
    return start


def audit_position(cursor: str, argument: str = "after") -> int:
    """The entry id in an ``auditLog`` cursor.

    Raises
    ------
    ValidationError
        If ``cursor`` is not an audit cursor holding an entry id (an integer in ``[0, 2**63)``).
    """
    return _id_position(cursor, "audit", argument)


def dispute_position(cursor: str, argument: str = "after") -> int:
    """The dispute id in a ``disputes`` cursor.

    Raises
    ------
    ValidationError
        If ``cursor`` is not a disputes cursor holding a dispute id (an integer in ``[0, 2**63)``).
    """
    return _id_position(cursor, "disputes", argument)
