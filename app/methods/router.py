from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.auth.deps import Reader
from selfsup.methods import list_methods

router = APIRouter(prefix="/v1/methods", tags=["methods"])


class MethodOut(BaseModel):
    name: str
    family: str
    modalities: list[str]
    summary: str
    default_for: list[str] = Field(description="The modalities whose jobs train with this method when none is named.")
    params: dict[str, Any]


class MethodList(BaseModel):
    items: list[MethodOut]


@router.get("", response_model=MethodList)
def methods(_caller: Reader) -> MethodList:
    return MethodList(
        items=[
            MethodOut(
                name=spec.name,
                family=spec.family,
                modalities=list(spec.modalities),
                summary=spec.summary,
                default_for=list(spec.default_for),
                params=spec.params_schema(),
            )
            for spec in list_methods()
        ]
    )
