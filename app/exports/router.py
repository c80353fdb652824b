from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.auth.deps import Reader
from app.core.deps import SessionDep, SettingsDep
from app.exports.service import Exporter, count_stored_bytes, export_key, training_card
from app.models.aliases import resolve_model
from app.quotas.service import TenantLimits, check_stored_bytes

router = APIRouter(prefix="/v1", tags=["models"])

ExportFormat = Literal["onnx", "torchscript", "safetensors"]


@router.get("/models/{model_id}/export", response_class=StreamingResponse)
def export_model(
    caller: Reader,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    model_id: str,
    format: Annotated[
        ExportFormat,
        Query(
            description="onnx or torchscript: graphs from canonical tensors to unit vectors; safetensors: weights "
            "and the config that rebuilds the network."
        ),
    ] = "onnx",
) -> StreamingResponse:
    """A zip of the model file(s), ``card.json`` (method, params, dataset stats, metrics, input spec,
    preprocessing) and ``tokenizer.json`` or ``schema.json`` where the modality needs one. Image-text models
    give one graph per tower (``image.onnx``, ``text.onnx``); ``model_id`` is an id or one of the tenant's
    aliases. Built on the first request for a model and format (one build at a time per server: 503 with
    Retry-After while another runs), then served from storage. A stored archive counts against the tenant's
    storage quota (a build is refused once it is full) and goes when the model is deleted."""
    model = resolve_model(session, tenant=caller.tenant, name=model_id)  # an id or an alias, as the embed routes
    exporter: Exporter = request.app.state.exporter
    if not exporter.is_built(model, format):
        check_stored_bytes(session, tenant=caller.tenant, limits=TenantLimits.from_settings(settings))
        card = training_card(session, model)
        session.close()  # no connection stays checked out while an export builds
        exporter.build(model=model, fmt=format, card=card)
        count_stored_bytes(session, exporter.storage, model)  # the archive counts against the tenant's quota
    session.close()  # nor while it streams
    key = export_key(model.id, format)
    headers = {"Content-Disposition": f'attachment; filename="{model.id}-{format}.zip"'}
    return StreamingResponse(exporter.stream(key), media_type="application/zip", headers=headers)
