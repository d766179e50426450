"""Path dependencies of the calls API: the call in the path, and the raw deliveries shown with it."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from callsvc.api import RowId
from callsvc.auth.dependencies import CurrentKey
from callsvc.calls import service
from callsvc.calls.models import Call
from callsvc.calls.schemas import CallEventRead
from callsvc.db import SessionDep


def visible_call(call_id: RowId, session: SessionDep, key: CurrentKey) -> Call:
    """Return the call in the path if the key may see it; 404 otherwise."""
    return service.get_visible_call(session, call_id=call_id, actor=key)


CallFromPath = Annotated[Call, Depends(visible_call)]

DeliveryLog = Callable[[Session, Call], list[CallEventRead]]


def get_delivery_log(request: Request) -> DeliveryLog:
    """The reader of a call's raw deliveries; the ingestion package keeps them, and create_app wires it in."""
    return request.app.state.delivery_log


DeliveryLogDep = Annotated[DeliveryLog, Depends(get_delivery_log)]
