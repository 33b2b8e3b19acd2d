"""Registry API: sites, nodes and gateways. Any staff member reads; admins create, edit, delete.

``PUT`` creates (201) or replaces (200) the entry with that id; the edit is kept over the
registry file from then on (api/registry.py). Deleting a gateway also revokes its token.
Every change is recorded in the audit log (api/audit.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from siaga.api.deps import AdminStaff, AuditDep, CurrentStaff, GatewayTokensDep, RegistryDep
from siaga.api.errors import NotFound, problem_responses
from siaga.api.registry import Gateway, GatewayIn, NodeIn, NodeInfo, RegistryView, Site, SiteIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64)]
_READ = problem_responses(401, 404)
_WRITE = problem_responses(401, 403, 404, 409, 422)


def _put_doc(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "Replaced"}, 201: {"model": model, "description": "Created"},
            **_WRITE}


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
    found = registry.site(site_id)
    if found is None:
        raise NotFound(f"no site {site_id!r}")
    return found


@router.put("/sites/{site_id}", response_model=Site, summary="Create or replace a site",
            responses=_put_doc(Site))
async def put_site(site_id: Ident, body: SiteIn, registry: RegistryDep, staff: AdminStaff,
                   audit: AuditDep, response: Response) -> Site:
    response.status_code = 200 if registry.site(site_id) else 201
    saved = await registry.put_site(site_id, body)
    await audit.record(staff.username, "registry.site.put", site_id, body.model_dump(mode="json"))
    return saved


@router.delete("/sites/{site_id}", status_code=204, response_class=Response,
               summary="Delete a site no node or gateway uses", responses=_WRITE)
async def delete_site(site_id: Ident, registry: RegistryDep, staff: AdminStaff,
                      audit: AuditDep) -> Response:
    await registry.delete("site", site_id)
    await audit.record(staff.username, "registry.site.delete", site_id)
    return Response(status_code=204)


@router.get("/nodes", response_model=list[NodeInfo], summary="Nodes, optionally filtered",
            responses=problem_responses(401))
async def nodes(registry: RegistryDep, staff: CurrentStaff,
                site: Annotated[str | None, Query(max_length=64)] = None,
                gateway: Annotated[str | None, Query(max_length=64)] = None) -> list[NodeInfo]:
    return registry.nodes(site=site, gateway=gateway)


@router.get("/nodes/{node_id}", response_model=NodeInfo, summary="One node", responses=_READ)
async def node(node_id: Ident, registry: RegistryDep, staff: CurrentStaff) -> NodeInfo:
    found = registry.node(node_id)
    if found is None:
        raise NotFound(f"no node {node_id!r}")
    return found


@router.put("/nodes/{node_id}", response_model=NodeInfo, summary="Create or replace a node",
            responses=_put_doc(NodeInfo))
async def put_node(node_id: Ident, body: NodeIn, registry: RegistryDep, staff: AdminStaff,
                   audit: AuditDep, response: Response) -> NodeInfo:
    response.status_code = 200 if registry.node(node_id) else 201
    saved = await registry.put_node(node_id, body)
    await audit.record(staff.username, "registry.node.put", node_id, body.model_dump(mode="json"))
    return saved


@router.delete("/nodes/{node_id}", status_code=204, response_class=Response,
               summary="Delete a node", responses=_WRITE)
async def delete_node(node_id: Ident, registry: RegistryDep, staff: AdminStaff,
                      audit: AuditDep) -> Response:
    await registry.delete("node", node_id)
    await audit.record(staff.username, "registry.node.delete", node_id)
    return Response(status_code=204)


@router.get("/gateways", response_model=list[Gateway], summary="Gateways",
            responses=problem_responses(401))
async def gateways(registry: RegistryDep, staff: CurrentStaff) -> list[Gateway]:
    return registry.gateways()


@router.get("/gateways/{gateway_id}", response_model=Gateway, summary="One gateway",
            responses=_READ)
async def gateway(gateway_id: Ident, registry: RegistryDep, staff: CurrentStaff) -> Gateway:
    found = registry.gateway(gateway_id)
    if found is None:
        raise NotFound(f"no gateway {gateway_id!r}")
    return found


@router.put("/gateways/{gateway_id}", response_model=Gateway,
            summary="Create or replace a gateway (its token comes from `siaga-hub gateway add`)",
            responses=_put_doc(Gateway))
async def put_gateway(gateway_id: Ident, body: GatewayIn, registry: RegistryDep,
                      staff: AdminStaff, audit: AuditDep,
                      response: Response) -> Gateway:
    response.status_code = 200 if registry.gateway(gateway_id) else 201
    saved = await registry.put_gateway(gateway_id, body)
    await audit.record(staff.username, "registry.gateway.put", gateway_id,
                       body.model_dump(mode="json"))
    return saved


@router.delete("/gateways/{gateway_id}", status_code=204, response_class=Response,
               summary="Delete a gateway no node uses, and revoke its token", responses=_WRITE)
async def delete_gateway(gateway_id: Ident, registry: RegistryDep, tokens: GatewayTokensDep,
                         staff: AdminStaff, audit: AuditDep) -> Response:
    await registry.delete("gateway", gateway_id)
    await audit.record(staff.username, "registry.gateway.delete", gateway_id)
    await tokens.revoke(gateway_id)
    return Response(status_code=204)
