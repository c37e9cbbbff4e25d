"""`/v2/notes` and `/v2/messagethreads`: notes and conversations attached to documents.

A note or thread may be attached to a document by type and id (`DocumentType` 1 invoice, 2 draft,
6 order, 9 customer, 11 article, 21 order draft; others name documents this company does not hold, so
their ids are never found: 400, 3000). The document then lists it in its read-only `Notes` or
`MessageThreads`. The API user is the seed's first user; message receivers must be users of the
company (`seed_details.USERS`).

* notes: list, create (answers 200 as the spec says), read, replace; `UserId` is the author.
* threads: create with a first message (at least one receiver), list (`excludeClosed`), read, reply
  (a closed thread takes no reply: 400), set a status (`MessageStatusApi`: 2 read / 1 unread for the
  current user, 4 close, 3 reopen; answers 201), the thread's messages, every message (paged).
  `GET /messagethreads/{id}/messages` answers a JSON array of messages: the spec's description says
  a list while its schema names one `MessageApi` (listed in `sandbox/spec_deviations.py`).
"""

from __future__ import annotations

from typing import Any

from .api_base import Api, Call, json_response, new_id, norm_id, public
from .errors import business_error, not_found, reference_not_found, validation_error
from .seed import sid
from .seed_details import API_USER_ID, DOCUMENT_TABLES, USERS

NOTE, THREAD, MESSAGE = "NoteApi", "MessageThreadApi", "MessageApi"
STATUS_NEW, STATUS_READ, STATUS_OPEN, STATUS_CLOSE = 1, 2, 3, 4
USER_IDS = frozenset(sid("user", key) for key, _ in USERS)


def register(api: Api) -> None:
    state = api.state
    notes = state.table("notes")
    threads = state.table("messagethreads")
    messages = state.table("messages")

    def document(doc_type: Any, doc_id: Any, field: str) -> dict[str, Any] | None:
        """The document a note/thread is attached to (None when not attached)."""
        if not doc_id:
            return None
        if not doc_type:
            raise validation_error("DocumentType: required when a document id is given", "DocumentType")
        table = DOCUMENT_TABLES.get(int(doc_type))
        doc = state.table(table).get(norm_id(str(doc_id))) if table else None
        if doc is None or (int(doc_type) == 21 and doc.get("Status") != 1):
            raise reference_not_found(field, f"Document of type {doc_type}", doc_id)
        return doc

    def attach(doc: dict[str, Any] | None, field: str, item_id: str) -> None:
        if doc is not None and item_id not in (doc.get(field) or []):
            doc[field] = [*(doc.get(field) or []), item_id]

    def detach(doc_type: Any, doc_id: Any, field: str, item_id: str) -> None:
        table = DOCUMENT_TABLES.get(int(doc_type or 0))
        doc = state.table(table).get(str(doc_id or "")) if table else None
        if doc is not None:
            doc[field] = [i for i in doc.get(field) or [] if i != item_id]

    # ---- notes --------------------------------------------------------------------------------
    def note_or_404(note_id: str) -> dict[str, Any]:
        note = notes.get(note_id)
        if note is None:
            raise not_found("Note", note_id)
        return note

    def build_note(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        ro = api.spec.read_only(NOTE)
        rec = {**(existing or api.spec.blank(NOTE))}
        rec.update({k: v for k, v in body.items() if k in rec and k not in ro})
        if not str(rec.get("Text") or "").strip():
            raise validation_error("Text: the field is required and can not be empty", "Text")
        doc = document(rec.get("DocumentType"), rec.get("AttachedTo"), "AttachedTo")
        rec["AttachedTo"] = doc["Id"] if doc else None
        stamp = api.stamp()
        if existing is None:
            rec.update({"Id": new_id(), "UserId": API_USER_ID, "CreatedUtc": stamp})
        rec["ModifiedUtc"] = stamp
        return rec

    async def list_notes(call: Call) -> Any:
        rows = sorted(notes.values(), key=lambda n: str(n["CreatedUtc"]))
        return api.list_response(call, rows, NOTE)

    async def create_note(call: Call) -> Any:
        rec = build_note(call.body or {}, None)
        notes[rec["Id"]] = rec
        attach(document(rec["DocumentType"], rec["AttachedTo"], "AttachedTo"), "Notes", rec["Id"])
        state.touch()
        return rec

    async def get_note(call: Call) -> Any:
        return note_or_404(call.path["noteId"])

    async def put_note(call: Call) -> Any:
        existing = note_or_404(call.path["noteId"])
        rec = build_note(call.body or {}, existing)
        detach(existing.get("DocumentType"), existing.get("AttachedTo"), "Notes", rec["Id"])
        notes[rec["Id"]] = rec
        attach(document(rec["DocumentType"], rec["AttachedTo"], "AttachedTo"), "Notes", rec["Id"])
        state.touch()
        return rec

    # ---- message threads ----------------------------------------------------------------------
    def thread_or_404(thread_id: str) -> dict[str, Any]:
        thread = threads.get(thread_id)
        if thread is None:
            raise not_found("Message thread", thread_id)
        return thread

    def thread_out(thread: dict[str, Any]) -> dict[str, Any]:
        ids = thread.get("_Messages") or []
        last = messages.get(ids[-1]) if ids else None
        receivers = [{**r, "IsCurrentUser": r["UserId"] == API_USER_ID} for r in thread["MessageReceivers"]]
        return {**public(thread), "MessageReceivers": receivers, "LastMessage": last}

    def add_message(thread: dict[str, Any], text: str) -> dict[str, Any]:
        stamp = api.stamp()
        message = {
            "Id": new_id(),
            "Text": text,
            "ModifiedUtc": stamp,
            "CreatedUtc": stamp,
            "CreatedByUserId": API_USER_ID,
            "ModifiedByUserId": API_USER_ID,
            "MessageThreadId": thread["Id"],
        }
        messages[message["Id"]] = message
        thread["_Messages"] = [*(thread.get("_Messages") or []), message["Id"]]
        thread["ModifiedUtc"] = stamp
        for receiver in thread["MessageReceivers"]:
            receiver["Status"] = STATUS_READ if receiver["UserId"] == API_USER_ID else STATUS_NEW
        return message

    async def create_thread(call: Call) -> Any:
        body = call.body or {}
        text = str(body.get("Message") or "").strip()
        if not text:
            raise validation_error("Message: the field is required and can not be empty", "Message")
        receivers = body.get("MessageReceivers") or []
        if not receivers:
            raise validation_error("MessageReceivers: at least one receiver is required", "MessageReceivers")
        user_ids: list[str] = []
        for idx, receiver in enumerate(receivers):
            user_id = norm_id(str(receiver.get("UserId") or ""))
            if user_id not in USER_IDS:
                raise reference_not_found(f"MessageReceivers[{idx}].UserId", "User", receiver.get("UserId"))
            if user_id not in user_ids:
                user_ids.append(user_id)
        if API_USER_ID not in user_ids:
            user_ids.insert(0, API_USER_ID)
        doc = document(body.get("DocumentType"), body.get("DocumentId"), "DocumentId")
        thread = {
            "Id": new_id(),
            "DocumentType": body.get("DocumentType") or 0,
            "DocumentId": doc["Id"] if doc else None,
            "DocumentNumber": str(
                doc.get("InvoiceNumber") or doc.get("CustomerNumber") or doc.get("Number") or ""
            )
            if doc
            else None,
            "Subject": body.get("Subject"),
            "IsClosed": False,
            "MessageReceivers": [{"UserId": u, "Status": STATUS_NEW} for u in user_ids],
        }
        add_message(thread, text)
        threads[thread["Id"]] = thread
        attach(doc, "MessageThreads", thread["Id"])
        state.touch()
        return thread_out(thread)

    async def list_threads(call: Call) -> Any:
        rows = [
            thread_out(t) for t in threads.values() if not (call.qbool("excludeClosed") and t["IsClosed"])
        ]
        rows.sort(key=lambda t: str(t["ModifiedUtc"]), reverse=True)
        return api.list_response(call, rows, THREAD)

    async def get_thread(call: Call) -> Any:
        return thread_out(thread_or_404(call.path["messageThreadId"]))

    async def reply(call: Call) -> Any:
        thread = thread_or_404(call.path["messageThreadId"])
        text = str((call.body or {}).get("Text") or "").strip()
        if not text:
            raise validation_error("Text: the field is required and can not be empty", "Text")
        if thread["IsClosed"]:
            raise business_error("The message thread is closed; reopen it (Status 3) to reply")
        message = add_message(thread, text)
        state.touch()
        return message

    async def set_status(call: Call) -> Any:
        thread = thread_or_404(call.path["messageThreadId"])
        status = (call.body or {}).get("Status")
        if status not in (STATUS_NEW, STATUS_READ, STATUS_OPEN, STATUS_CLOSE):
            raise validation_error(
                f"Status: must be 1 (new), 2 (read), 3 (open) or 4 (close), got {status}", "Status"
            )
        if status in (STATUS_OPEN, STATUS_CLOSE):
            thread["IsClosed"] = status == STATUS_CLOSE
        for receiver in thread["MessageReceivers"]:
            if receiver["UserId"] == API_USER_ID or status in (STATUS_OPEN, STATUS_CLOSE):
                receiver["Status"] = status
        thread["ModifiedUtc"] = api.stamp()
        state.touch()
        return thread_out(thread)

    async def thread_messages(call: Call) -> Any:
        thread = thread_or_404(call.path["messageThreadId"])
        return json_response([messages[m] for m in thread.get("_Messages") or [] if m in messages])

    async def all_messages(call: Call) -> Any:
        rows = sorted(messages.values(), key=lambda m: str(m["CreatedUtc"]))
        return api.list_response(call, rows, MESSAGE)

    api.route("GET", "/notes", list_notes)
    api.route("POST", "/notes", create_note)
    api.route("GET", "/notes/{noteId}", get_note)
    api.route("PUT", "/notes/{noteId}", put_note)
    api.route("GET", "/messagethreads", list_threads)
    api.route("POST", "/messagethreads", create_thread, status=201)
    api.route("GET", "/messagethreads/messages", all_messages)
    api.route("GET", "/messagethreads/{messageThreadId}", get_thread)
    api.route("POST", "/messagethreads/{messageThreadId}", reply, status=201)
    api.route("PUT", "/messagethreads/{messageThreadId}", set_status, status=201)
    api.route("GET", "/messagethreads/{messageThreadId}/messages", thread_messages)
