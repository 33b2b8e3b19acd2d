"""Registry API: sites, nodes and gateways. Any staff member reads; admins create, edit, delete.

``PUT`` creates (201) or replaces (200) the entry with that id; the edit is kept over the
registry file from then on (api/registry.py). Deleting a gateway also revokes its token.
Every change is recorded in the audit log (api/audit.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from siaga.api.accounts import Staff
from siaga.api.audit import AuditLog
from siaga.api.deps import AdminStaff, AuditDep, CurrentStaff, GatewayTokensDep, RegistryDep
from siaga.api.errors import NotFound, problem_responses
from siaga.api.registry import (
    Gateway,
    GatewayIn,
    Kind,
    NodeIn,
    NodeInfo,
    Registry,
    RegistryView,
    Site,
    SiteIn,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64)]
_READ = problem_responses(401, 404)
_WRITE = problem_responses(401, 403, 404, 409, 422)


def _put_doc(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "Replaced"}, 201: {"model": model, "description": "Created"},
            **_WRITE}


# The three kinds share one way to answer a read, a put and a delete (below); the routes stay
# one per kind, so that each keeps its own path, models and summary in the OpenAPI document.
_Entry = TypeVar("_Entry", Site, NodeInfo, Gateway)
_In = TypeVar("_In", SiteIn, NodeIn, GatewayIn)


@dataclass(frozen=True, slots=True)
class _KindOf(Generic[_Entry, _In]):
    """A kind's name (in the 404 and the audit action) with the registry's lookup and save of
    its entries, stated together once: a route passes only this, and mypy checks the route's
    body and answer against its types."""

    kind: Kind
    lookup: Callable[[Registry, str], _Entry | None]
    save: Callable[[Registry, str, _In], Awaitable[_Entry]]


_SITE = _KindOf("site", Registry.site, Registry.put_site)
_NODE = _KindOf("node", Registry.node, Registry.put_node)
_GATEWAY = _KindOf("gateway", Registry.gateway, Registry.put_gateway)


def _found(of: _KindOf[_Entry, Any], registry: Registry, ident: str) -> _Entry:
    entry = of.lookup(registry, ident)
    if entry is None:
        raise NotFound(f"no {of.kind} {ident!r}")
    return entry


async def _put(of: _KindOf[_Entry, _In], ident: str, body: _In, registry: Registry,
               staff: Staff, audit: AuditLog, response: Response) -> _Entry:
    response.status_code = 200 if of.lookup(registry, ident) is not None else 201
    saved = await of.save(registry, ident, body)
    await audit.record(staff.username, f"registry.{of.kind}.put", ident,
                       body.model_dump(mode="json"))
    return saved


async def _delete(of: _KindOf[Any, Any], ident: str, registry: Registry, staff: Staff,
                  audit: AuditLog) -> None:
    await registry.delete(of.kind, ident)
    await audit.record(staff.username, f"registry.{of.kind}.delete", ident)


@router.get("", response_model=RegistryView, summary="Every site, gateway and node",
            responses=problem_responses(401))
async def whole(registry: RegistryDep, staff: CurrentStaff) -> RegistryView:
    return registry.view()


@router.get("/sites", response_model=list[Site], summary="Sites",
            responses=problem_responses(401))
async def sites(registry: RegistryDep, staff: CurrentStaff) -> list[Site]:
    return registry.sites()


@router.get("/sites/{site_id}", response_model=Site, summary="One site", responses=_READ)
async def site(site_id: Ident, registry: RegistryDep, staff: CurrentStaff) -> Site:
    return _found(_SITE, registry, site_id)


@router.put("/sites/{site_id}", response_model=Site, summary="Create or replace a site",
            responses=_put_doc(Site))
async def put_site(site_id: Ident, body: SiteIn, registry: RegistryDep, staff: AdminStaff,
                   audit: AuditDep, response: Response) -> Site:
    return await _put(_SITE, site_id, body, registry, staff, audit, response)


@router.delete("/sites/{site_id}", status_code=204, response_class=Response,
               summary="Delete a site no node or gateway uses", responses=_WRITE)
async def delete_site(site_id: Ident, registry: RegistryDep, staff: AdminStaff,
                      audit: AuditDep) -> Response:
    await _delete(_SITE, site_id, registry, staff, audit)
    return Response(status_code=204)


@router.get("/nodes", response_model=list[NodeInfo], summary="Nodes, optionally filtered",
            responses=problem_responses(401))
async def nodes(registry: RegistryDep, staff: CurrentStaff,
                site: Annotated[str | None, Query(max_length=64)] = None,
                gateway: Annotated[str | None, Query(max_length=64)] = None) -> list[NodeInfo]:
    return registry.nodes(site=site, gateway=gateway)


@router.get("/nodes/{node_id}", response_model=NodeInfo, summary="One node", responses=_READ)
async def node(node_id: Ident, registry: RegistryDep, staff: CurrentStaff) -> NodeInfo:
    return _found(_NODE, registry, node_id)


@router.put("/nodes/{node_id}", response_model=NodeInfo, summary="Create or replace a node",
            responses=_put_doc(NodeInfo))
async def put_node(node_id: Ident, body: NodeIn, registry: RegistryDep, staff: AdminStaff,
                   audit: AuditDep, response: Response) -> NodeInfo:
    return await _put(_NODE, node_id, body, registry, staff, audit, response)


@router.delete("/nodes/{node_id}", status_code=204, response_class=Response,
               summary="Delete a node", responses=_WRITE)
async def delete_node(node_id: Ident, registry: RegistryDep, staff: AdminStaff,
                      audit: AuditDep) -> Response:
    await _delete(_NODE, node_id, registry, staff, audit)
    return Response(status_code=204)


@router.get("/gateways", response_model=list[Gateway], summary="Gateways",
            responses=problem_responses(401))
async def gateways(registry: RegistryDep, staff: CurrentStaff) -> list[Gateway]:
    return registry.gateways()


@router.get("/gateways/{gateway_id}", response_model=Gateway, summary="One gateway",
            responses=_READ)
async def gateway(gateway_id: Ident, registry: RegistryDep, staff: CurrentStaff) -> Gateway:
    return _found(_GATEWAY, registry, gateway_id)


@router.put("/gateways/{gateway_id}", response_model=Gateway,
            summary="Create or replace a gateway (its token comes from `siaga-hub gateway add`)",
            responses=_put_doc(Gateway))
async def put_gateway(gateway_id: Ident, body: GatewayIn, registry: RegistryDep,
                      staff: AdminStaff, audit: AuditDep,
                      response: Response) -> Gateway:
    return await _put(_GATEWAY, gateway_id, body, registry, staff, audit, response)


@router.delete("/gateways/{gateway_id}", status_code=204, response_class=Response,
               summary="Delete a gateway no node uses, and revoke its token", responses=_WRITE)
async def delete_gateway(gateway_id: Ident, registry: RegistryDep, tokens: GatewayTokensDep,
                         staff: AdminStaff, audit: AuditDep) -> Response:
    await _delete(_GATEWAY, gateway_id, registry, staff, audit)
    await tokens.revoke(gateway_id)
    return Response(status_code=204)
