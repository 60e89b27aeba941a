"""``/admin/api/v1/resources``: protected resources (RFC 8707) and their scopes
(``flows.resources``). A resource is named in paths by ``id``, the base64url of its URI."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from proofkey.flows.admin import AdminError
from proofkey.flows.resources import register_resource
from proofkey.models import Resource
from proofkey.store.base import AlreadyExists

from .items import PAGE_QUERY, check_if_match, etag_of, page, page_of
from .problems import Problem
from .routing import Call, Operation, Reply
from .schema import Arr, Int, Obj, Prop, Str

__all__ = ["OPERATIONS", "resource_id"]

_ID = Str(2800, 1, r"[A-Za-z0-9_-]+", description="The base64url (no padding) of the URI.")
_URI = Str(2048, 1, description="An absolute https URI (http on loopback), no fragment.")
_SCOPES = Arr(Str(100, 1, r"[\x21\x23-\x5B\x5D-\x7E]+"), max_items=100)
NEW_RESOURCE = Obj("NewResource", (Prop("uri", _URI, required=True),
                                   Prop("scopes", _SCOPES, required=True),
                                   Prop("name", Str(200))))
RESOURCE = Obj("Resource", (Prop("id", _ID, required=True), Prop("uri", _URI, required=True),
                            Prop("scopes", _SCOPES, required=True),
                            Prop("name", Str(200), required=True),
                            Prop("created_at", Int(0, 2**53), required=True)))


def resource_id(uri: str) -> str:
    return base64.urlsafe_b64encode(uri.encode()).rstrip(b"=").decode()


def view(resource: Resource) -> dict[str, Any]:
    return {"id": resource_id(resource.uri), "uri": resource.uri,
            "scopes": sorted(resource.scopes), "name": resource.name,
            "created_at": resource.created_at}


async def _current(call: Call) -> Resource:
    raw = call.path["resource_id"]
    try:
        uri = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Problem(404, "not-found", "no resource with this id") from None
    resource = await call.services.store.get_resource(uri)
    if resource is None:
        raise Problem(404, "not-found", "no resource with this id")
    return resource


async def list_resources(call: Call) -> Reply:
    resources = await call.services.store.list_resources()
    return Reply(200, page(call, resources, lambda r: r.uri, view))


async def get_resource(call: Call) -> Reply:
    body = view(await _current(call))
    return Reply(200, body, etag_of(body))


async def create_resource(call: Call) -> Reply:
    b = call.body
    try:
        resource = await register_resource(call.services.store, b["uri"], scopes=b["scopes"],
                                           name=b.get("name", ""), now=call.services.ctx.now())
    except AdminError as exc:
        raise Problem(422, "invalid-resource", str(exc)[:500]) from None
    except AlreadyExists:
        raise Problem(409, "exists", "a resource with this URI exists already") from None
    call.services.resources.forget()
    body = view(resource)
    return Reply(201, body, etag_of(body), f"/resources/{body['id']}")


async def delete_resource(call: Call) -> Reply:
    resource = await _current(call)
    check_if_match(call, etag_of(view(resource)))
    if not await call.services.store.remove_resource(resource.uri):
        raise Problem(404, "not-found", "no resource with this id")
    call.services.resources.forget()
    return Reply(204)


_ITEM = "/resources/{resource_id}"
_PATH = {"resource_id": _ID}
OPERATIONS = (
    Operation("GET", "/resources", "listResources", "List registered resources.",
              "resources:read", list_resources,
              {200: ("A page of resources.", page_of("ResourcePage", RESOURCE))},
              query=PAGE_QUERY, tag="resources"),
    Operation("POST", "/resources", "createResource", "Register a resource (RFC 8707) and "
              "the scopes its tokens may carry.", "resources:write", create_resource,
              {201: ("The resource.", RESOURCE)}, body=NEW_RESOURCE, tag="resources"),
    Operation("GET", _ITEM, "getResource", "Read a resource.", "resources:read",
              get_resource, {200: ("The resource.", RESOURCE)}, path_params=_PATH,
              tag="resources"),
    Operation("DELETE", _ITEM, "deleteResource", "Remove a resource.", "resources:write",
              delete_resource, {204: ("Removed.", None)}, path_params=_PATH, if_match=True,
              tag="resources"),
)
