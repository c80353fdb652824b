from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    job_id: str
    method: str
    backbone: str
    modality: str
    dim: int
    created_at: datetime
