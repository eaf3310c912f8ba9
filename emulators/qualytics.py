"""An in-memory Qualytics API: anomalies, their status and comments, under `/api` (a lean Starlette app).

Endpoints (Bearer token; 401 `{"detail": ...}` without a valid one). Sources: qualytics-cli 1.2.2
(`api/anomalies.py`, `cli/anomalies.py`: every request its anomaly commands send), the controlplane OpenAPI
client in qualytics-examples (`swagger_client`: models and `anomalies_api.py`), and the userguide pages
named beside the behaviour they back.

    GET    /api/health                                  204, no token needed
    GET    /api/status                                  {database_connection, rabbitmq_connection}: "OK"
                                                        (qualytics-examples api-readiness-check)
    GET    /api/users/me                                the token's user
    GET    /api/anomalies?page&size&datastore&container&quality_check&field&status&anomaly_type&rule_type
                          &tag&id&archived=only|include&start_date&end_date&timeframe&source_enriched
                          &sort_created&sort_weight
                                                        {items, total, page, size, pages}, newest first, no
                                                        comments; archived anomalies only with `archived`;
                                                        list params as repeated keys or comma-separated;
                                                        size 1..100; an unknown parameter is ignored
    PATCH  /api/anomalies  [{id, status?, description?, tags?, assignee_ids?}]
                                                        bulk update (the CLI's `anomalies update --ids`):
                                                        the updated details, as a list
    DELETE /api/anomalies  [{id, archive?: bool, status?}]
                                                        bulk archive (`archive` true, the default, with an
                                                        archive status) or hard delete: 204
    GET    /api/anomalies/{id}                          the detail, with comments
    PUT    /api/anomalies/{id}  {status: Active|Acknowledged, description?, tags?, assignee_ids?}
                                                        the updated detail; an archived anomaly is restored
                                                        as Acknowledged whichever open status is sent
    DELETE /api/anomalies/{id}?archive=true&status=Resolved|Duplicate|Invalid|Discarded
                                                        204; `archive=false` deletes for good (404 after)
    GET    /api/anomalies/{id}/ticket-links             the tickets of Qualytics' own ticketing integration
                                                        (empty unless a test adds some: `add_ticket_link`)
    GET    /api/comments?page&size                      every anomaly comment, newest first, with anomaly_id
    POST   /api/comments  {message, anomaly_id}         200 with the comment (id counts up, `created` UTC);
                                                        400 on an archived anomaly, 404 unknown anomaly
    GET    /, /api                                      an index of these endpoints (HTML; JSON when asked), no token
    GET    /datastores/{id}/anomalies?id={anomaly}      a stand-in for the UI's anomaly page, no token
    POST   /_emulator/anomalies  {anomaly in the API's shape, id optional}
                                                        201 with the stored detail; no token needed, never
                                                        faulted and not logged: it is the test's back door

The default token, `DEMO_TOKEN`, is shaped like a JWT (header, claims without `exp`, signature): Qualytics'
tokens are JWTs and qualytics-cli decodes one (unverified) before every command (`config.is_token_valid`).

Faults (`.faults`) are decided once per `/api` request, before the token is checked: "error" and "rate_limit"
answer without touching the data; "drop" applies the request and then loses the answer. Requests that came
through `.transport()` (which marks the ASGI scope `emulators.transport.IN_PROCESS`) get the `DROPPED_HEADER` that
`DroppingTransport` turns into `httpx.ReadTimeout`; any other request came over a socket, and its answer is
held for `drop_hang` seconds or until the client hangs up.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.faults import Faults
from emulators.pages import page, wants_json
from emulators.transport import DroppingTransport, RecordedRequest, lose_response

OPEN_STATUSES = ("Active", "Acknowledged")
ARCHIVE_STATUSES = ("Resolved", "Duplicate", "Invalid", "Discarded")
MAX_PAGE_SIZE = 100


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _demo_jwt() -> str:
    """A fixed HS256 JWT with no `exp` (a token without one never expires for qualytics-cli)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = _b64(
        json.dumps({"sub": "snowbot-emulator", "name": "Snowbot Service"}, separators=(",", ":")).encode()
    )
    signature = hmac.new(b"snowbot-emulator", f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


DEMO_TOKEN = _demo_jwt()
"""The emulator's documented demo token (`snowbot emulate qualytics` uses it unless given --token)."""


class EmulatorError(Exception):
    """A request the API would refuse; the HTTP layer answers `{"detail": detail}` with `status`."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _iso(value: object) -> str:
    """One fixed-width UTC form (`2026-01-22T13:22:40.780346Z`), so strings sort like times."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EmulatorError(422, f"not an ISO 8601 datetime: {value!r}") from None
    if not isinstance(value, datetime):
        raise EmulatorError(422, f"not a datetime: {value!r}")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bad_json() -> EmulatorError:
    return EmulatorError(422, [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}])


def _invalid(field: str, message: str, kind: str = "value_error") -> EmulatorError:
    return EmulatorError(422, [{"type": kind, "loc": ["body", field], "msg": message}])


class QualyticsEmulator:
    def __init__(
        self,
        base_url: str = "https://demo.qualytics.io",
        token: str = DEMO_TOKEN,
        seed: bool = True,
        faults: Faults | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        drop_hang: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.faults = faults or Faults()
        self.drop_hang = drop_hang
        self.clock = clock or (lambda: datetime.now(UTC))
        self.requests: list[RecordedRequest] = []
        self.user: dict[str, Any] = _user(3, "Snowbot Service", "snowbot@acme.example", "Member")
        self._people: dict[str, dict[str, Any]] = {}  # further tokens -> the person each acts as
        self.datastores: dict[int, dict[str, Any]] = {}
        self.containers: dict[int, dict[str, Any]] = {}  # id -> stub plus "datastore_id"
        self.anomalies: dict[int, dict[str, Any]] = {}  # id -> the detail, as the API returns it
        self._comments: list[tuple[int, dict[str, Any]]] = []  # (anomaly id, comment), oldest first
        self.ticket_links: dict[int, list[dict[str, Any]]] = {}  # anomaly id -> Qualytics' own ticket links
        self._next_anomaly_id = 1
        self._next_comment_id = 5001
        self._next_check_id = 9001
        self._version = 0  # bumped on every change that can alter a listing
        self._listing: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        self.app = self._build_app()
        if seed:
            _seed(self)

    # ------------------------------------------------------------------------------------ common surface

    def transport(self) -> DroppingTransport:
        """An httpx transport into this emulator; dropped answers become `httpx.ReadTimeout`."""
        return DroppingTransport(self.app)

    def reset_log(self) -> None:
        self.requests.clear()

    def add_person(self, token: str, name: str, email: str, role: str = "Member") -> dict[str, Any]:
        """Another API token, acting as a person (their comments carry their name); returns the user."""
        person = _user(100 + len(self._people), name, email, role)
        self._people[token] = person
        return person

    # ------------------------------------------------------------------------------------ direct helpers

    def add_datastore(self, id: int, name: str, type: str = "postgresql", store_type: str = "jdbc") -> dict:
        self.datastores[id] = {"id": id, "name": name, "store_type": store_type, "type": type}
        return self.datastores[id]

    def add_container(
        self, id: int, datastore_id: int, name: str, container_type: str = "table"
    ) -> dict[str, Any]:
        self.containers[id] = {
            "id": id,
            "name": name,
            "container_type": container_type,
            "table_type": "table" if container_type == "table" else None,
            "datastore_id": datastore_id,
        }
        return self.containers[id]

    def add_anomaly(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Store an anomaly given in the API's shape; `id`, `uuid`, `created` and the rest are filled in."""
        anomaly_id = data.get("id") or self._next_anomaly_id
        if not isinstance(anomaly_id, int) or isinstance(anomaly_id, bool):
            raise _invalid("id", "Input should be a valid integer", "int_type")
        if anomaly_id in self.anomalies:
            raise EmulatorError(409, f"Anomaly {anomaly_id} already exists")
        datastore = self._datastore_stub(data.get("datastore"))
        container = self._container_stub(data.get("container"), datastore["id"])
        status = data.get("status") or "Active"
        if status not in OPEN_STATUSES + ARCHIVE_STATUSES:
            raise _invalid("status", f"unknown status {status!r}")
        kind = data.get("type") or "record"
        created = _iso(data.get("created") or self.clock())
        checks = [self._failed_check(check, created) for check in data.get("failed_checks") or ()]
        anomaly = {
            **data,
            "id": anomaly_id,
            "uuid": data.get("uuid")
            or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.base_url}/anomalies/{anomaly_id}")),
            "created": created,
            "type": kind,
            "status": status,
            "archived": bool(data.get("archived", status in ARCHIVE_STATUSES)),
            "is_new": data.get("is_new", status == "Active"),
            "source_enriched": data.get("source_enriched", False),
            "weight": data.get("weight", 10),
            "anomalous_records_count": data.get("anomalous_records_count", 1 if kind == "record" else None),
            "fingerprint": data.get("fingerprint", anomaly_id * 7919),
            "description": data.get("description") or "",
            "message": data.get("message") or (checks[0]["message"] if checks else None),
            "datastore": datastore,
            "container": container,
            "partition": data.get("partition")
            or (container and {"name": container["name"], "location": None}),
            "global_tags": [_tag(tag) for tag in data.get("global_tags") or ()],
            "assignees": list(data.get("assignees") or ()),
            "failed_checks": checks,
            "comments": [],
        }
        self.anomalies[anomaly_id] = anomaly
        self._next_anomaly_id = max(self._next_anomaly_id, anomaly_id + 1)
        for comment in data.get("comments") or ():
            self._attach_comment(anomaly, comment["message"], comment.get("user"), comment.get("created"))
        self._version += 1
        return anomaly

    def set_status(self, anomaly_id: int, status: str) -> dict[str, Any]:
        """Change the status as a Qualytics user would: an archive status archives; an open one on an
        archived anomaly restores it, always as Acknowledged (userguide, restore-anomalies.md: restored
        anomalies come back "acknowledged" and "will not return to the active state")."""
        anomaly = self._anomaly(anomaly_id)
        if status in ARCHIVE_STATUSES:
            anomaly["archived"] = True
        elif status in OPEN_STATUSES:
            if anomaly["archived"]:
                status = "Acknowledged"
            anomaly["archived"] = False
        else:
            raise _invalid("status", f"unknown status {status!r}")
        anomaly["status"] = status
        anomaly["is_new"] = False
        self._version += 1
        return anomaly

    def restore(self, anomaly_id: int) -> dict[str, Any]:
        """Bring an archived anomaly back, as the UI's Restore does: it is Acknowledged afterwards."""
        return self.set_status(anomaly_id, "Acknowledged")

    def delete(self, anomaly_id: int) -> None:
        """Delete for good (`DELETE ?archive=false`): the anomaly answers 404 from now on."""
        self._anomaly(anomaly_id)
        del self.anomalies[anomaly_id]
        self._version += 1

    def add_ticket_link(self, anomaly_id: int, number: str, status: str = "New") -> dict[str, Any]:
        """A ticket linked by Qualytics' own ticketing integration. Its API body is not published; the
        fields are the UI's Tickets card (number, status badge, description, last synced; userguide
        anomalies/details/insights.md)."""
        self._anomaly(anomaly_id)
        links = self.ticket_links.setdefault(anomaly_id, [])
        link = {
            "id": 700 + sum(len(v) for v in self.ticket_links.values()),
            "anomaly_id": anomaly_id,
            "ticket_number": number,
            "status": status,
            "description": "",
            "last_synced": _iso(self.clock()),
        }
        links.append(link)
        return link

    def add_comment(
        self,
        anomaly_id: int,
        message: str,
        *,
        user: Mapping[str, Any] | None = None,
        created: object = None,
    ) -> dict[str, Any]:
        """Comment as `user` (default: the token's user); archived anomalies take no comments."""
        anomaly = self._anomaly(anomaly_id)
        if anomaly["archived"]:
            raise EmulatorError(400, f"Anomaly {anomaly_id} is archived: comments cannot be added")
        return self._attach_comment(anomaly, message, user, created)

    def _attach_comment(
        self, anomaly: dict[str, Any], message: str, user: Mapping[str, Any] | None, created: object
    ) -> dict[str, Any]:
        comment = {
            "id": self._next_comment_id,
            "created": _iso(created or self.clock()),
            "message": message,
            "user": dict(user) if user else dict(self.user),
        }
        self._next_comment_id += 1
        anomaly["comments"].append(comment)
        self._comments.append((anomaly["id"], comment))
        return comment

    # ------------------------------------------------------------------------------------ HTTP layer

    def _build_app(self) -> Starlette:
        api = self._api
        routes = [
            Route("/api/health", api(lambda request, body: Response(status_code=204), auth=False)),
            Route("/api/status", api(lambda request, body: STATUS)),
            Route("/api/users/me", api(lambda request, body: self._caller(request))),
            Route("/api/anomalies", api(self._list_anomalies), methods=["GET"]),
            Route("/api/anomalies", api(self._bulk_update), methods=["PATCH"]),
            Route("/api/anomalies", api(self._bulk_delete), methods=["DELETE"]),
            Route("/api/anomalies/{anomaly_id:int}", api(self._get_anomaly), methods=["GET"]),
            Route("/api/anomalies/{anomaly_id:int}/ticket-links", api(self._get_ticket_links)),
            Route("/api/anomalies/{anomaly_id:int}", api(self._put_anomaly), methods=["PUT"]),
            Route("/api/anomalies/{anomaly_id:int}", api(self._delete_anomaly), methods=["DELETE"]),
            Route("/api/comments", api(self._list_comments), methods=["GET"]),
            Route("/api/comments", api(self._post_comment), methods=["POST"]),
            Route("/_emulator/anomalies", self._control_add_anomaly, methods=["POST"]),
            Route("/", self._index, methods=["GET"]),  # stand-ins for a person's browser: see `_index`
            Route("/api", self._index, methods=["GET"]),
            Route("/api/", self._index, methods=["GET"]),
            Route("/datastores/{datastore_id:int}/anomalies", self._anomaly_page, methods=["GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return JSONResponse({"detail": exc.detail}, exc.status_code)

        return Starlette(routes=routes, exception_handlers={HTTPException: http_error})

    async def _index(self, request: Request) -> Response:
        """`/` and `/api`: a real instance serves its web app at `/` and its API docs at `/api/docs`
        (../shared/reference/qualytics-api.md, "OpenAPI"); the emulator names its endpoints and anomalies
        instead. No token, no data beyond ids."""
        endpoints = [
            " ".join(line.split())
            for line in (__doc__ or "").splitlines()
            if line.strip().startswith(("GET", "PUT", "POST", "DELETE"))
        ]
        ids = sorted(self.anomalies)
        if wants_json(request):
            return JSONResponse({"emulator": "Qualytics", "endpoints": endpoints, "anomalies": ids})
        items = "".join(
            f'<li><a href="/datastores/{self.anomalies[i]["datastore"]["id"]}/anomalies?id={i}">anomaly {i}</a></li>'
            for i in ids
        )
        listing = "".join(f"<li><code>{escape(line)}</code></li>" for line in endpoints)
        body = f"<p>A Qualytics API emulator for snowbot (Bearer token).</p><ul>{listing}</ul><h2>Anomalies</h2><ul>{items}</ul>"
        return page("Qualytics emulator", body)

    async def _anomaly_page(self, request: Request) -> Response:
        """`/datastores/<id>/anomalies?id=<anomaly>`: the UI page `qualytics_api.anomaly_url` links to. The
        emulator has no UI: this stands in with a read-only view of the anomaly and its comments (JSON with
        `Accept: application/json`). The real page needs a login session, which the emulator does not model."""
        try:
            anomaly = self.anomalies[int(request.query_params.get("id", ""))]
        except (KeyError, ValueError):
            return page("Anomaly not found", "<p>No anomaly with that id.</p>", 404)
        if anomaly["datastore"]["id"] != request.path_params["datastore_id"]:
            return page("Anomaly not found", "<p>That anomaly is in another datastore.</p>", 404)
        if wants_json(request):
            return JSONResponse(anomaly)
        shown = ("id", "status", "archived", "type", "description", "message", "weight", "created")
        rows = "".join(f"<tr><th>{key}</th><td>{escape(str(anomaly.get(key)))}</td></tr>" for key in shown)
        where = f"{anomaly['datastore']['name']} · {anomaly['container']['name']}"
        comments = "".join(
            f"<li>{escape(c['user'].get('name', ''))}: <pre>{escape(c['message'])}</pre></li>"
            for c in anomaly["comments"]
        )
        body = f"<p>{escape(where)}</p><table>{rows}</table><h2>Comments</h2><ol>{comments}</ol>"
        return page(f"Anomaly {anomaly['id']}", body)

    def _api(self, handler: Callable[[Request, Any], Any], *, auth: bool = True):
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body, bad_json = (json.loads(raw) if raw else None), False
            except ValueError:
                body, bad_json = raw.decode(errors="replace"), True
            record = RecordedRequest(request.method, request.url.path, _query_dict(request), body)
            self.requests.append(record)
            fault = self.faults.decide(request.method, request.url.path)
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            if fault.kind == "error":
                response: Response = JSONResponse({"detail": "Internal Server Error"}, fault.status)
            elif fault.kind == "rate_limit":
                headers = {"Retry-After": str(fault.retry_after or 1)}
                response = JSONResponse({"detail": "Too Many Requests"}, 429, headers=headers)
            elif auth and (denied := self._check_token(request)) is not None:
                response = denied
            else:
                try:
                    if bad_json:
                        raise _bad_json()
                    result = handler(request, body)
                    response = result if isinstance(result, Response) else JSONResponse(result)
                except EmulatorError as exc:
                    response = JSONResponse({"detail": exc.detail}, exc.status)
                if fault.kind == "drop":
                    await lose_response(request, response, self.drop_hang)
            record.status = response.status_code
            return response

        return endpoint

    def _check_token(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return None
        if scheme.lower() == "bearer" and any(
            hmac.compare_digest(token.strip().encode(), known.encode()) for known in self._people
        ):
            return None
        detail = "Not authenticated" if not token else "Invalid or expired token"
        return JSONResponse({"detail": detail}, 401, headers={"WWW-Authenticate": "Bearer"})

    def _caller(self, request: Request) -> dict[str, Any]:
        """The user the request's token acts as (the token is already checked)."""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        return self._people.get(token, self.user)

    async def _control_add_anomaly(self, request: Request) -> Response:
        try:
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise _bad_json() from None
            if not isinstance(body, Mapping):
                raise EmulatorError(422, "send one anomaly as a JSON object")
            return JSONResponse(self.add_anomaly(body), 201)
        except EmulatorError as exc:
            return JSONResponse({"detail": exc.detail}, exc.status)

    # ------------------------------------------------------------------------------------ handlers

    def _get_anomaly(self, request: Request, body: Any) -> dict[str, Any]:
        return self._anomaly(request.path_params["anomaly_id"])

    def _put_anomaly(self, request: Request, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise EmulatorError(422, [{"type": "missing", "loc": ["body"], "msg": "Field required"}])
        return self._update(request.path_params["anomaly_id"], body, status_required=True)

    def _update(self, anomaly_id: int, body: Mapping[str, Any], *, status_required: bool) -> dict[str, Any]:
        """One PUT body or one PATCH item: everything is checked before anything changes."""
        status = body.get("status")
        if (status_required or status is not None) and status not in OPEN_STATUSES:
            raise _invalid("status", "Input should be 'Active' or 'Acknowledged'", "enum")
        self._anomaly(anomaly_id)
        assignees = None
        if body.get("assignee_ids") is not None:  # the CLI's --assignee-ids; [] clears them
            assignees = self._assignees(body["assignee_ids"])
        tags = body.get("tags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise _invalid("tags", "Input should be a valid list of strings", "list_type")
        anomaly = self.set_status(anomaly_id, status) if status is not None else self.anomalies[anomaly_id]
        if body.get("description") is not None:
            anomaly["description"] = str(body["description"])
        if tags is not None:
            anomaly["global_tags"] = [_tag(tag) for tag in tags]
        if assignees is not None:
            anomaly["assignees"] = assignees
        self._version += 1
        return anomaly

    def _assignees(self, ids: Any) -> list[dict[str, Any]]:
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise _invalid("assignee_ids", "Input should be a valid list of integers", "list_type")
        users = {user["id"]: user for user in (self.user, JANE, RAJ, *self._people.values())}
        unknown = [i for i in ids if i not in users]
        if unknown:
            raise EmulatorError(404, f"User {unknown[0]} not found")
        return [{k: users[i][k] for k in ("id", "name", "email")} for i in ids]

    def _bulk_update(self, request: Request, body: Any) -> list[dict[str, Any]]:
        """PATCH /api/anomalies: the OpenAPI answers `list[GetAnomaly]` (swagger_client anomalies_api)."""
        items = self._bulk_items(body)
        for item in items:  # all-or-nothing: validate every item before changing any
            self._anomaly(item["id"])
        return [self._update(item["id"], item, status_required=False) for item in items]

    def _bulk_delete(self, request: Request, body: Any) -> Response:
        """DELETE /api/anomalies: `[{id, archive, status}]` (BulkDeleteAnomaly; qualytics-cli's archive/delete)."""
        items = self._bulk_items(body)
        for item in items:
            self._anomaly(item["id"])
            if (
                item.get("archive", True) is not False
                and item.get("status", "Resolved") not in ARCHIVE_STATUSES
            ):
                raise _invalid("status", f"Input should be one of {ARCHIVE_STATUSES}", "enum")
        for item in items:
            if item.get("archive", True) is False:
                self.delete(item["id"])
            else:
                self.set_status(item["id"], item.get("status", "Resolved"))
        return Response(status_code=204)

    def _bulk_items(self, body: Any) -> list[Mapping[str, Any]]:
        if not isinstance(body, list) or not all(isinstance(item, Mapping) for item in body):
            raise EmulatorError(
                422, [{"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list"}]
            )
        for n, item in enumerate(body):
            if not isinstance(item.get("id"), int) or isinstance(item.get("id"), bool):
                raise EmulatorError(
                    422,
                    [
                        {
                            "type": "int_type",
                            "loc": ["body", n, "id"],
                            "msg": "Input should be a valid integer",
                        }
                    ],
                )
        return body

    def _get_ticket_links(self, request: Request, body: Any) -> list[dict[str, Any]]:
        anomaly_id = request.path_params["anomaly_id"]
        self._anomaly(anomaly_id)
        return self.ticket_links.get(anomaly_id, [])

    def _delete_anomaly(self, request: Request, body: Any) -> Response:
        anomaly_id = request.path_params["anomaly_id"]
        self._anomaly(anomaly_id)
        if request.query_params.get("archive", "true").lower() == "false":
            self.delete(anomaly_id)
            return Response(status_code=204)
        status = request.query_params.get("status", "Resolved")
        if status not in ARCHIVE_STATUSES:
            raise EmulatorError(
                422,
                [
                    {
                        "type": "enum",
                        "loc": ["query", "status"],
                        "msg": f"Input should be one of {ARCHIVE_STATUSES}",
                    }
                ],
            )
        self.set_status(anomaly_id, status)
        return Response(status_code=204)

    def _post_comment(self, request: Request, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise EmulatorError(422, [{"type": "missing", "loc": ["body"], "msg": "Field required"}])
        message, anomaly_id = body.get("message"), body.get("anomaly_id")
        if not isinstance(message, str) or not message.strip():
            raise _invalid("message", "Field required" if message is None else "String should not be empty")
        if not isinstance(anomaly_id, int) or isinstance(anomaly_id, bool):
            raise _invalid("anomaly_id", "Input should be a valid integer", "int_type")
        comment = self.add_comment(anomaly_id, message, user=self._caller(request))
        return {**comment, "anomaly_id": anomaly_id}

    def _list_comments(self, request: Request, body: Any) -> dict[str, Any]:
        page, size = _paging(request)
        newest_first = self._comments[::-1]
        chosen = newest_first[(page - 1) * size : page * size]
        items = [{**comment, "anomaly_id": anomaly_id} for anomaly_id, comment in chosen]
        return _page(items, len(newest_first), page, size)

    def _list_anomalies(self, request: Request, body: Any) -> dict[str, Any]:
        page, size = _paging(request)
        q = request.query_params
        key = tuple(sorted((k, v) for k, v in q.multi_items() if k not in ("page", "size")))
        if self._listing is None or self._listing[0] != (self._version, key):
            self._listing = ((self._version, key), self._select(request))
        matched = self._listing[1]
        items = [
            {k: v for k, v in anomaly.items() if k != "comments"}
            for anomaly in matched[(page - 1) * size : page * size]
        ]
        return _page(items, len(matched), page, size)

    def _select(self, request: Request) -> list[dict[str, Any]]:
        """The anomalies a listing query matches, in the order asked for (cached per query and data version)."""
        q = request.query_params
        tests: list[Callable[[dict[str, Any]], bool]] = []
        archived = (q.get("archived") or "").lower()
        if archived == "only":
            tests.append(lambda a: a["archived"])
        elif archived not in ("include", "true"):
            tests.append(lambda a: not a["archived"])
        if ids := _ints(q, "id"):
            tests.append(lambda a: a["id"] in ids)
        if datastores := _ints(q, "datastore"):
            tests.append(lambda a: a["datastore"]["id"] in datastores)
        if containers := _ints(q, "container"):
            tests.append(lambda a: (a["container"] or {}).get("id") in containers)
        if statuses := set(_multi(q, "status")):
            tests.append(lambda a: a["status"] in statuses)
        if kinds := set(_multi(q, "anomaly_type")):
            tests.append(lambda a: a["type"] in kinds)
        if checks := _ints(q, "quality_check"):
            tests.append(lambda a: any(c["quality_check"]["id"] in checks for c in a["failed_checks"]))
        if fields := set(_multi(q, "field")):
            tests.append(
                lambda a: any(
                    f["name"] in fields for c in a["failed_checks"] for f in c["quality_check"]["fields"]
                )
            )
        if (enriched := (q.get("source_enriched") or "").lower()) in ("true", "false"):
            tests.append(lambda a: bool(a["source_enriched"]) == (enriched == "true"))
        if timeframe := _ints(q, "timeframe"):
            # The OpenAPI says only "the time frame of the created date"; read here as the last N days.
            since = _iso(self.clock() - timedelta(days=max(timeframe)))
            tests.append(lambda a: a["created"] >= since)
        if rule_types := set(_multi(q, "rule_type")):
            tests.append(
                lambda a: any(c["quality_check"]["rule_type"] in rule_types for c in a["failed_checks"])
            )
        if tags := set(_multi(q, "tag")):
            tests.append(lambda a: any(t["name"] in tags for t in a["global_tags"]))
        if start := q.get("start_date"):
            tests.append(lambda a: a["created"][:10] >= start)
        if end := q.get("end_date"):
            tests.append(lambda a: a["created"][:10] <= end)
        matched = [a for a in self.anomalies.values() if all(test(a) for test in tests)]
        newest_first = q.get("sort_created", "desc").lower() != "asc"
        matched.sort(key=lambda a: (a["created"], a["id"]), reverse=newest_first)
        if sort_weight := q.get("sort_weight"):  # stable: equal weights keep the creation order
            matched.sort(key=lambda a: a["weight"] or 0, reverse=sort_weight.lower() != "asc")
        return matched

    # ------------------------------------------------------------------------------------ lookups

    def _anomaly(self, anomaly_id: int) -> dict[str, Any]:
        try:
            return self.anomalies[anomaly_id]
        except KeyError:
            raise EmulatorError(404, f"Anomaly {anomaly_id} not found") from None

    def _datastore_stub(self, value: Any) -> dict[str, Any]:
        ref = value if isinstance(value, Mapping) else {"id": value}
        if ref.get("id") in self.datastores:
            return dict(self.datastores[ref["id"]])
        if isinstance(ref.get("id"), int) and ref.get("name"):
            return dict(self.add_datastore(ref["id"], ref["name"], ref.get("type"), ref.get("store_type")))
        raise _invalid("datastore", "give a known datastore id, or an id and a name")

    def _container_stub(self, value: Any, datastore_id: int) -> dict[str, Any] | None:
        if value is None:
            return None
        ref = value if isinstance(value, Mapping) else {"id": value}
        found = self.containers.get(ref.get("id"))
        if found is None and isinstance(ref.get("id"), int) and ref.get("name"):
            found = self.add_container(
                ref["id"], datastore_id, ref["name"], ref.get("container_type") or "table"
            )
        if found is None:
            raise _invalid("container", "give a known container id, or an id and a name")
        if found["datastore_id"] != datastore_id:
            raise _invalid("container", f"container {found['id']} is not in datastore {datastore_id}")
        return {k: v for k, v in found.items() if k != "datastore_id"}

    def _failed_check(self, value: Mapping[str, Any], created: str) -> dict[str, Any]:
        check = dict(value.get("quality_check") or {})
        if not check.get("id"):
            check["id"] = self._next_check_id
            self._next_check_id += 1
        check["fields"] = [f if isinstance(f, Mapping) else {"name": f} for f in check.get("fields") or ()]
        check.setdefault("rule_type", "")
        check.setdefault("description", "")
        check.setdefault("is_passing", False)
        # QualityCheckListing requires created, inferred, coverage and weight (swagger_client models).
        check.setdefault("created", created)
        check.setdefault("inferred", False)
        check.setdefault("coverage", 1.0)
        check.setdefault("weight", 7)
        return {
            "message": value.get("message") or "",
            "suggested_field": value.get("suggested_field"),
            "suggested_value": value.get("suggested_value"),
            "suggested_score": value.get("suggested_score"),
            "quality_check": check,
        }


# ---------------------------------------------------------------------------------------- small helpers


STATUS = {"database_connection": "OK", "rabbitmq_connection": "OK"}


def _user(id: int, name: str, email: str, role: str = "Member") -> dict[str, Any]:
    """A User as comments carry it: {id, created, user_id, email, name, picture, role, teams} (swagger_client
    models `comment.py`, `user.py`)."""
    return {
        "id": id,
        "created": "2025-11-03T09:00:00.000000Z",
        "user_id": f"auth0|{email.split('@')[0]}",
        "email": email,
        "name": name,
        "picture": None,
        "role": role,
        "teams": [{"id": 1, "name": "Public"}],
    }


def _page(items: list[dict[str, Any]], total: int, page: int, size: int) -> dict[str, Any]:
    """A page as the API answers it: `items, total, page, size, pages` (the OpenAPI's Page models)."""
    return {"items": items, "total": total, "page": page, "size": size, "pages": math.ceil(total / size)}


def _tag(value: Any) -> dict[str, Any]:
    return (
        dict(value) if isinstance(value, Mapping) else {"type": "global", "name": str(value), "color": None}
    )


def _query_dict(request: Request) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in query:
            query[key] = [*query[key], value] if isinstance(query[key], list) else [query[key], value]
        else:
            query[key] = value
    return query


def _multi(query: Any, key: str) -> list[str]:
    """Repeated keys (`status=Active&status=Acknowledged`) and comma lists (`status=Active,Acknowledged`)."""
    return [part.strip() for value in query.getlist(key) for part in value.split(",") if part.strip()]


def _ints(query: Any, key: str) -> set[int]:
    try:
        return {int(value) for value in _multi(query, key)}
    except ValueError:
        raise EmulatorError(
            422, [{"type": "int_parsing", "loc": ["query", key], "msg": "Input should be a valid integer"}]
        ) from None


def _paging(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", 1))
        size = int(request.query_params.get("size", 50))
    except ValueError:
        raise EmulatorError(
            422, [{"type": "int_parsing", "loc": ["query"], "msg": "page and size are integers"}]
        ) from None
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise EmulatorError(
            422, [{"type": "range", "loc": ["query"], "msg": f"page >= 1 and 1 <= size <= {MAX_PAGE_SIZE}"}]
        )
    return page, size


# ---------------------------------------------------------------------------------------- seed data

JANE = _user(7, "Jane Doe", "jane.doe@acme.example")
RAJ = _user(11, "Raj Patel", "raj.patel@acme.example", "Admin")


def _check(rule_type: str, fields: list[str], message: str, description: str) -> dict[str, Any]:
    return {
        "message": message,
        "quality_check": {"rule_type": rule_type, "fields": fields, "description": description},
    }


def _seed(emulator: QualyticsEmulator) -> None:
    """Three datastores, their containers and a dozen record and shape anomalies; 824 matches the spec."""
    emulator.add_datastore(23, "Sales Warehouse", "snowflake")
    emulator.add_datastore(7, "Orders DB", "postgresql")
    emulator.add_datastore(12, "Customer Lake", "s3", "dfs")
    emulator.add_container(231, 23, "orders_daily")
    emulator.add_container(232, 23, "revenue_by_region", "computed_table")
    emulator.add_container(233, 23, "customers")
    emulator.add_container(71, 7, "orders")
    emulator.add_container(72, 7, "order_items")
    emulator.add_container(73, 7, "customers")
    emulator.add_container(121, 12, "customers.csv", "file")

    # fmt: off
    seeds: list[dict[str, Any]] = [
        {
            "id": 818, "created": "2026-01-19T08:02:11.204118Z", "type": "record", "status": "Resolved",
            "datastore": 7, "container": 71, "weight": 12, "anomalous_records_count": 3,
            "failed_checks": [_check("notNegative", ["quantity"], "The field 'quantity' value of '-3' is negative", "Quantity is never negative")],
            "comments": [{"message": "Refunds were booked as negative quantities; fixed upstream.", "user": RAJ, "created": "2026-01-19T10:15:00Z"}],
        },
        {
            "id": 819, "created": "2026-01-19T08:02:12.551020Z", "type": "shape", "status": "Invalid",
            "datastore": 7, "container": 72, "weight": 8, "anomalous_records_count": 100,
            "failed_checks": [_check("isUnique", ["order_item_id"], "In 'order_item_id', 0.412% of 24,301 filtered records (100) are not unique", "Order item ids are unique")],
        },
        {
            "id": 820, "created": "2026-01-20T06:30:45.000318Z", "type": "record", "status": "Active",
            "datastore": 7, "container": 73, "weight": 18, "anomalous_records_count": 1,
            "failed_checks": [_check("matchesPattern", ["email"], "The field 'email' value of 'jdoe@' does not match the pattern '^[^@]+@[^@]+\\.[^@]+$'", "Email looks like an email")],
        },
        {
            "id": 821, "created": "2026-01-20T06:31:02.918200Z", "type": "shape", "status": "Acknowledged",
            "datastore": 7, "container": 73, "weight": 27, "anomalous_records_count": 754,
            "global_tags": ["pii"],
            "failed_checks": [_check("anyNotNull", ["phone", "email"], "In 'phone, email', 3.120% have no value set for any of 'phone, email'", "Every customer is reachable")],
            "comments": [{"message": "CRM export drops phone numbers for EU customers; checking with the CRM team.", "user": JANE, "created": "2026-01-20T09:41:27Z"}],
        },
        {
            "id": 822, "created": "2026-01-21T02:00:09.113000Z", "type": "shape", "status": "Active",
            "datastore": 23, "container": 232, "weight": 35, "anomalous_records_count": None,
            "failed_checks": [_check("requiredValues", ["region"], "In 'region', required values are missing in the sample of 10,000 records", "All sales regions report")],
        },
        {
            "id": 823, "created": "2026-01-22T13:22:40.102555Z", "type": "record", "status": "Active",
            "datastore": 23, "container": 231, "weight": 22, "anomalous_records_count": 2,
            "failed_checks": [_check("expectedValues", ["order_status"], "The field 'order_status' value of 'SHIPPD' does not appear in the list of expected values", "Order status is a known value")],
        },
        {
            "id": 824, "created": "2026-01-22T13:22:40.780346Z", "type": "record", "status": "Active",
            "datastore": 23, "container": 231, "weight": 54, "anomalous_records_count": 17,
            "description": "17 daily order rows have max_value outside [0, 100000].",
            "global_tags": ["critical"],
            "failed_checks": [_check("between", ["max_value"], "The field 'max_value' has a value that falls outside the declared limits", "Max value between 0 and 100000")],
        },
        {
            "id": 825, "created": "2026-01-23T04:12:55.640000Z", "type": "shape", "status": "Active",
            "datastore": 23, "container": 231, "weight": 41, "anomalous_records_count": None,
            "failed_checks": [_check("timeDistributionSize", ["order_date"], "The count of records in day segments of 'order_date' is not between 5000 and 20000", "Daily order volume is normal")],
        },
        {
            "id": 826, "created": "2026-01-23T04:13:20.017007Z", "type": "record", "status": "Acknowledged",
            "datastore": 23, "container": 233, "weight": 15, "anomalous_records_count": 1,
            "failed_checks": [_check("afterDateTime", ["signup_date"], "The field 'signup_date' value of '1970-01-01' is not after 2000-01-01", "Signup dates are real")],
            "comments": [{"message": "Legacy import default; will backfill from the CRM.", "user": JANE, "created": "2026-01-23T08:00:00Z"}],
        },
        {
            "id": 827, "created": "2026-01-24T11:45:03.330000Z", "type": "shape", "status": "Active",
            "datastore": 12, "container": 121, "weight": 30, "anomalous_records_count": 96,
            "failed_checks": [
                _check("notNull", ["customer_id"], "In 'customer_id', 0.960% are not assigned values", "Customer id is set"),
                _check("isUnique", ["customer_id"], "In 'customer_id', 0.050% of 10,000 filtered records (5) are not unique", "Customer id is unique"),
            ],
        },
        {
            "id": 828, "created": "2026-01-25T07:05:41.902131Z", "type": "record", "status": "Discarded",
            "datastore": 12, "container": 121, "weight": 5, "anomalous_records_count": 1,
            "failed_checks": [_check("notNull", ["country"], "There is no value set for 'country'", "Country is set")],
        },
    ]
    # fmt: on
    for seed in seeds:
        emulator.add_anomaly(seed)
