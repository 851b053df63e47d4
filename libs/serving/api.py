"""The HTTP API: a customer's recommendations and profile, a product's neighbours, and the service's health.

Answers come from the `Store`'s current snapshot, in memory. Ids are the lake's own customer and product
ids (pseudonymised where the source held PII); no response carries a name, an email or a phone.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pmkt.libs.config import ServeConfig
from pmkt.libs.contracts.features import CUSTOMER_ID, SNAPSHOT_DATE
from pmkt.libs.contracts.gold import CUSTOMER_PROFILES
from pmkt.libs.errors import UserError
from pmkt.libs.serving.store import Snapshot, Store
from pmkt.libs.streaming import landing

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"  # letters, digits and _.:- ; no spaces, slashes or @
RECOMMENDATION_FIELDS = ("rank", "product_id", "score", "source", "reason")
# Every profile column but the keys: the contract of gold.customer_profiles says which they are.
KEYS = (SNAPSHOT_DATE.name, CUSTOMER_ID.name)
PROFILE_FIELDS = tuple(c.name for c in CUSTOMER_PROFILES.columns if c.name not in KEYS)


MAX_EVENTS = 1000  # events per POST /events


class Event(BaseModel):
    """One behavioural event, in the canonical names; values are checked again by the stream's validation (a bad
    value is quarantined with its reason there). No other field is accepted: nothing personal lands by mistake."""

    model_config = ConfigDict(extra="forbid")
    event_id: str | None = Field(None, pattern=ID_PATTERN, description="derived from the event when absent")
    customer_id: str = Field(pattern=ID_PATTERN)
    product_id: str | None = Field(None, pattern=ID_PATTERN)
    event_type: str = Field(min_length=1, max_length=64, description="one of ingest.event_types")
    event_ts: str = Field(min_length=1, max_length=64, description="in the events source's timestamp_format")
    device: str | None = Field(None, max_length=64)
    session_id: str | None = Field(None, max_length=128)


class Events(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: _plain(row.get(f)) for f in fields if f in row}


def create_app(
    store: Store, cfg: ServeConfig, token: str | None, events_to: tuple[str, dict[str, str]] | None = None
) -> FastAPI:
    """The app over `store`; every route but /health needs `Authorization: Bearer <token>` unless token is None.

    `events_to` (the stream's landing folder and the landed files' column names) enables `POST /events`.
    """
    app = FastAPI(title="pmkt", summary="Recommendations, profiles and similar products from the pmkt lake")
    credentials = Depends(HTTPBearer(auto_error=False))

    def authorised(creds: HTTPAuthorizationCredentials | None = credentials) -> None:
        if token is None:
            return
        given = creds.credentials if creds is not None else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    def snapshot() -> Snapshot:
        return store.current  # read once: the whole request sees one snapshot

    # Parameters as defaults, not Annotated aliases: with postponed annotations FastAPI resolves names at module
    # level, and the k bounds come from the config.
    customer_path = Path(pattern=ID_PATTERN, description="the lake's customer id")
    product_path = Path(pattern=ID_PATTERN, description="the lake's product id")
    k_query = Query(cfg.default_k, ge=1, le=cfg.max_k, description=f"how many, 1..{cfg.max_k}")

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own and the router's (unknown path, wrong method)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The field and the rule only: the rejected value is not echoed back.
        problems = [{"field": ".".join(str(p) for p in e["loc"][1:]), "problem": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        snap = snapshot()
        return {
            "status": "ok",
            "loaded_at": snap.loaded_at.isoformat(),
            "tables": snap.versions,
            "customers": len(snap.known),
        }

    @app.get("/customers/{customer_id}/recommendations", dependencies=[Depends(authorised)])
    def recommendations(customer_id: str = customer_path, k: int = k_query) -> dict[str, Any]:
        snap = snapshot()
        if not snap.customer(customer_id):
            raise HTTPException(status_code=404, detail=f"unknown customer {customer_id}")
        live = snap.fresh(customer_id)
        if live is not None:  # refreshed by the stream since the batch list: the customer's latest behaviour
            reason = f"als: folded in at event time {_plain(live['as_of'])}"
            items = [
                {
                    "rank": i + 1,
                    "product_id": x["product_id"],
                    "score": x["score"],
                    "source": "als_live",
                    "reason": reason,
                }
                for i, x in enumerate(live["items"][:k])
            ]
            return {"customer_id": customer_id, "cold_start": False, "fresh": True, "items": items}
        rows = snap.recommendations.get(customer_id, limit=k)
        if rows:
            items = [_pick(r, RECOMMENDATION_FIELDS) for r in rows]
            return {"customer_id": customer_id, "cold_start": False, "fresh": False, "items": items}
        # No list for this customer (new since the last recommend run): the most popular items, flagged.
        items = [{**r, "score": None, "source": "popular", "reason": "popular overall"} for r in snap.cold_start(k)]
        return {"customer_id": customer_id, "cold_start": True, "fresh": False, "items": items}

    @app.get("/customers/{customer_id}/profile", dependencies=[Depends(authorised)])
    def profile(customer_id: str = customer_path) -> dict[str, Any]:
        snap = snapshot()
        if not snap.customer(customer_id):
            raise HTTPException(status_code=404, detail=f"unknown customer {customer_id}")
        found = snap.profiles.get(customer_id, limit=1)
        segment = snap.segments.get(customer_id, limit=1)
        churn = snap.churn.get(customer_id, limit=1)
        return {
            "customer_id": customer_id,
            "snapshot_date": _plain(found[0]["snapshot_date"]) if found else None,
            "profile": _pick(found[0], PROFILE_FIELDS) if found else None,
            "segment": _pick(segment[0], ("segment_id", "segment_name", "is_outlier")) if segment else None,
            "churn": _pick(churn[0], ("probability", "risk_band", "reasons")) if churn else None,
            "propensities": [
                _pick(r, ("category", "probability", "reasons")) for r in snap.propensity.get(customer_id)
            ],
        }

    @app.get("/products/{product_id}/similar", dependencies=[Depends(authorised)])
    def similar(product_id: str = product_path, k: int = k_query) -> dict[str, Any]:
        snap = snapshot()
        if product_id not in snap.products:
            raise HTTPException(status_code=404, detail=f"unknown product {product_id}")
        rows = snap.similar.get(product_id)
        by_method: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            found = by_method.setdefault(r["method"], [])
            if len(found) < k:
                found.append({"rank": r["rank"], "product_id": r["neighbour_id"], "similarity": r["similarity"]})
        return {"product_id": product_id, "similar": by_method}

    @app.post("/events", status_code=202, dependencies=[Depends(authorised)])
    def events(body: Events) -> dict[str, Any]:
        if events_to is None:
            raise HTTPException(
                status_code=409, detail="the stream does not read JSON files from a landing folder (stream.format)"
            )
        folder, names = events_to
        landed = landing.land_events(folder, [e.model_dump() for e in body.events], names)
        return {"accepted": len(body.events), "file": landed.name}

    return app


def check_token(given: str | None, insecure_local: bool, host: str) -> str | None:
    """The bearer token to require, or None (only with `insecure_local` on a loopback address)."""
    if given:
        return given
    if not insecure_local:
        raise UserError("no API key: pass --api-key or set the key's environment variable, or --insecure-local")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UserError(f"--insecure-local serves without a key on loopback only, not on {host}")
    return None
