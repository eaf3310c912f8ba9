"""The schema, as named migrations applied once each, in order.

This module is the only place tables, foreign keys and indexes are created. `migrate(db)` records every
applied name in `_migrations`; each migration and its record commit in one transaction, so a crash leaves
either both or neither, and re-running `migrate` is a no-op. Never edit a migration that has shipped:
add a new one at the end.

The DDL is written as SQL rather than `db[table].create(...)` because sqlite-utils 3.x cannot express
`ON DELETE CASCADE`, CHECK constraints or partial indexes, and the schema is where those belong.
"""

from __future__ import annotations

from collections.abc import Callable

from storage.db import Database, atomic, dialect, iso

Migration = Callable[[Database], None]

MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register `fn` under its function name; registration order is application order."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def _run(db: Database, *statements: str) -> None:
    # One statement per execute: `executescript` would commit the surrounding transaction.
    for sql in statements:
        db.execute(sql)


@migration
def m001_integrations(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE integrations (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            instance_url TEXT NOT NULL UNIQUE,
            auth_type TEXT NOT NULL,
            username TEXT NOT NULL,
            password_encrypted TEXT,  -- Fernet token from SecretBox; NULL when source = 'env'
            source TEXT NOT NULL CHECK (source IN ('user', 'env')),
            status TEXT NOT NULL DEFAULT 'Unchecked' CHECK (status IN ('Connected', 'Error', 'Unchecked')),
            last_error TEXT,
            last_checked_at TEXT,
            is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
        # At most one default row; integrations.save keeps it at exactly one.
        "CREATE UNIQUE INDEX integrations_one_default ON integrations (is_default) WHERE is_default = 1",
    )


@migration
def m002_links(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            anomaly_id INTEGER NOT NULL,
            integration_id INTEGER NOT NULL REFERENCES integrations (id),
            ticket_sys_id TEXT NOT NULL,
            ticket_number TEXT NOT NULL,
            status TEXT NOT NULL,
            url TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_synced_at TEXT,
            channel_id TEXT,
            thread_ts TEXT,
            UNIQUE (anomaly_id, integration_id, ticket_sys_id)  -- also serves for_anomaly()
        )
        """,
        "CREATE INDEX links_ticket ON links (ticket_sys_id)",
        "CREATE INDEX links_integration ON links (integration_id)",
    )


@migration
def m003_sync_state(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE sync_state (
            link_id INTEGER PRIMARY KEY REFERENCES links (id) ON DELETE CASCADE,
            last_status TEXT NOT NULL,
            status_seq INTEGER NOT NULL DEFAULT 0,  -- status changes recorded so far (for event keys)
            archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
            resolved INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
            watch INTEGER NOT NULL DEFAULT 1 CHECK (watch IN (0, 1)),
            updated_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE sync_seen_comments (
            link_id INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            comment_id INTEGER NOT NULL,
            PRIMARY KEY (link_id, comment_id)
        ) WITHOUT ROWID
        """,
        # links.watched(): skip the links the sync no longer polls without reading their rows.
        "CREATE INDEX sync_state_unwatched ON sync_state (link_id) WHERE watch = 0",
    )


@migration
def m004_outbox(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            event_key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('status', 'comment', 'resolve')),
            payload TEXT NOT NULL,  -- JSON
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            done_at TEXT,
            marker TEXT NOT NULL UNIQUE,
            UNIQUE (link_id, event_key)
        )
        """,
        # sync.due() finds the open items by state and asks "is an earlier item of this link still open?";
        # sync.counts() and sync.failures() read the state index too.
        "CREATE INDEX outbox_state ON outbox (state)",
        "CREATE INDEX outbox_open_by_link ON outbox (link_id, id) WHERE state IN ('pending', 'sending')",
    )


@migration
def m005_sync_runs(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            summary TEXT NOT NULL  -- JSON
        )
        """,
    )


@migration
def m006_slack_cards(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE slack_watched_channels (
            channel_id TEXT PRIMARY KEY,
            added_by TEXT NOT NULL,
            added_at TEXT NOT NULL
        )
        """,
        # One anomaly card per Slack thread; the row is claimed (ts NULL) before the card is posted, so a
        # retried event finds it and posts nothing.
        """
        CREATE TABLE slack_cards (
            channel_id TEXT NOT NULL,
            thread_ts TEXT NOT NULL,
            anomaly_id INTEGER NOT NULL,
            ts TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (channel_id, thread_ts)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX slack_cards_anomaly ON slack_cards (anomaly_id)",
    )


@migration
def m007_intents(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE intents (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('create', 'link')),
            anomaly_id INTEGER NOT NULL,
            integration_id INTEGER NOT NULL REFERENCES integrations (id),
            correlation_id TEXT UNIQUE,  -- create: the incident's correlation_id
            ticket_sys_id TEXT,  -- link: the incident whose description gets the anomaly
            ticket_number TEXT,
            fields TEXT NOT NULL,  -- JSON: the incident's fields (create); the block and work note (link)
            baseline TEXT NOT NULL,  -- JSON: the anomaly when asked (status, archived, comment ids)
            actor TEXT NOT NULL,
            channel_id TEXT,
            thread_ts TEXT,
            link_id INTEGER REFERENCES links (id) ON DELETE CASCADE,  -- set when reconciled
            announced_at TEXT,
            created_at TEXT NOT NULL,
            CHECK ((kind = 'create') = (correlation_id IS NOT NULL)),
            CHECK (kind = 'create' OR ticket_sys_id IS NOT NULL)
        )
        """,
        "CREATE INDEX intents_anomaly ON intents (anomaly_id)",
    )


@migration
def m008_links_anomaly_deleted(db: Database) -> None:
    # When the sync found the link's anomaly deleted in Qualytics (404 for good); NULL while it exists.
    _run(db, "ALTER TABLE links ADD COLUMN anomaly_deleted_at TEXT")


@migration
def m009_links_ticket_kind(db: Database) -> None:
    # The link's kind of ticket (`servicenow.kinds.TicketKind.name`); every link before it is an incident.
    _run(db, "ALTER TABLE links ADD COLUMN ticket_kind TEXT NOT NULL DEFAULT 'incident'")


@migration
def m010_integrations_oauth(db: Database) -> None:
    # OAuth 2.0 (`servicenow.auth`): the OAuth application's client id, and its secret as a SecretBox token
    # (NULL for basic and for source 'env'). auth_type says which: basic, oauth_password,
    # oauth_client_credentials. Access and refresh tokens are never stored.
    _run(
        db,
        "ALTER TABLE integrations ADD COLUMN client_id TEXT",
        "ALTER TABLE integrations ADD COLUMN client_secret_encrypted TEXT",
    )


@migration
def m011_integrations_credentials_ref(db: Database) -> None:
    # A Vault reference (`vault:<mount>/<path>#<key>`, bot/secrets.py) stored instead of the encrypted
    # credentials; NULL for every integration stored before it.
    _run(db, "ALTER TABLE integrations ADD COLUMN credentials_ref TEXT")


@migration
def m012_syncback_state(db: Database) -> None:
    # ServiceNow back to Qualytics and Slack (`bot.sync.back`, `storage.syncback`): the integration's mode;
    # per integration and ticket table the watermark (the newest sys_updated_on handled); per ticket what
    # was last handled; and one row per journal entry, closure or archive crossing to an anomaly, unique
    # per link, with its Slack and Qualytics delivery states (a marker makes a lost Qualytics answer
    # checkable before anything is sent again).
    _run(
        db,
        "ALTER TABLE integrations ADD COLUMN sync_back TEXT NOT NULL DEFAULT 'off' "
        "CHECK (sync_back IN ('off', 'comment', 'comment_and_archive'))",
        """
        CREATE TABLE syncback_watermarks (
            integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            ticket_table TEXT NOT NULL,
            updated_on TEXT NOT NULL,  -- ServiceNow's sys_updated_on value, UTC YYYY-MM-DD HH:MM:SS
            PRIMARY KEY (integration_id, ticket_table)
        )
        """,
        """
        CREATE TABLE syncback_tickets (
            integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
            ticket_sys_id TEXT NOT NULL,
            ticket_table TEXT NOT NULL,
            updated_on TEXT NOT NULL,
            mod_count INTEGER NOT NULL DEFAULT 0,  -- sys_mod_count: tells two updates in one second apart
            state TEXT NOT NULL,
            closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
            PRIMARY KEY (integration_id, ticket_sys_id)
        )
        """,
        """
        CREATE TABLE syncback_outbox (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            entry_key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('note', 'closed', 'archive')),
            payload TEXT NOT NULL,  -- JSON
            marker TEXT NOT NULL UNIQUE,
            slack_state TEXT NOT NULL CHECK (slack_state IN ('none', 'pending', 'sent')),
            qualytics_state TEXT NOT NULL
                CHECK (qualytics_state IN ('none', 'pending', 'sending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            done_at TEXT,
            UNIQUE (link_id, entry_key)
        )
        """,
        "CREATE INDEX syncback_outbox_open ON syncback_outbox (qualytics_state, slack_state)",
    )


@migration
def m013_rules_creation_rules(db: Database) -> None:
    # Creation rules (`storage.rules`, bot/usecases/rules.py): a match and a ticket template as JSON,
    # who changed each and when (rule_changes keeps every change, also after the rule is deleted); each new
    # anomaly's one evaluation (claimed before any create); the poll's high-water mark; recurrences
    # (an anomaly linked to the open ticket of an earlier one) and what snowbot knows of anomalies it saw.
    _run(
        db,
        """
        CREATE TABLE rules (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            paused_reason TEXT,
            match TEXT NOT NULL,  -- JSON: datastore, container, anomaly_type, rule_type, tag, min_weight, status
            template TEXT NOT NULL,  -- JSON: short_description, description, urgency, impact, category, ...
            ticket_kind TEXT NOT NULL DEFAULT 'incident',
            integration_id INTEGER REFERENCES integrations (id) ON DELETE CASCADE,  -- NULL: the default
            channel_id TEXT,
            recurrence_window INTEGER NOT NULL DEFAULT 604800 CHECK (recurrence_window >= 0),  -- seconds
            max_per_hour INTEGER NOT NULL DEFAULT 20 CHECK (max_per_hour >= 1),
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE rule_changes (
            id INTEGER PRIMARY KEY,
            rule_id INTEGER NOT NULL,  -- no foreign key: the history outlives the rule
            action TEXT NOT NULL CHECK (action IN ('created', 'updated', 'enabled', 'disabled', 'paused', 'deleted')),
            actor TEXT NOT NULL,
            detail TEXT NOT NULL,  -- JSON: the fields changed, or the pause's reason
            at TEXT NOT NULL
        )
        """,
        "CREATE INDEX rule_changes_rule ON rule_changes (rule_id)",
        """
        CREATE TABLE rule_evaluations (
            anomaly_id INTEGER PRIMARY KEY,
            state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
            outcome TEXT,  -- created, recurred, no_rule, has_ticket, paused, not_open, failed
            rule_id INTEGER,
            ticket_number TEXT,
            reason TEXT,
            evaluated_at TEXT NOT NULL,
            done_at TEXT
        )
        """,
        "CREATE INDEX rule_evaluations_rule ON rule_evaluations (rule_id, outcome, done_at)",
        "CREATE INDEX rule_evaluations_pending ON rule_evaluations (state)",
        """
        CREATE TABLE rule_cursor (
            name TEXT PRIMARY KEY,
            anomaly_id INTEGER NOT NULL,  -- the newest anomaly the poll has seen
            floor_id INTEGER NOT NULL,  -- the newest when polling began: older ones are never evaluated
            updated_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE anomaly_facts (
            anomaly_id INTEGER PRIMARY KEY,
            fingerprint TEXT,
            container_id INTEGER,
            check_ids TEXT NOT NULL,  -- ",9001,9002,": the failed checks' quality check ids
            created TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE recurrences (
            anomaly_id INTEGER PRIMARY KEY,
            first_anomaly_id INTEGER NOT NULL,
            link_id INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            ticket_number TEXT NOT NULL,
            at TEXT NOT NULL
        )
        """,
        "CREATE INDEX recurrences_first ON recurrences (first_anomaly_id)",
    )


@migration
def m014_adaptive_read_schedule(db: Database) -> None:
    # When the sync reads each linked anomaly from Qualytics next (bot/sync/schedule.py): one row per
    # anomaly, written after each read; an anomaly without a row is due at once.
    _run(
        db,
        """
        CREATE TABLE read_schedule (
            anomaly_id INTEGER PRIMARY KEY,
            next_read_at TEXT NOT NULL,
            interval_seconds INTEGER NOT NULL CHECK (interval_seconds >= 0),
            last_read_at TEXT NOT NULL,
            changed_at TEXT  -- the last change seen, or a webhook or Slack action naming it; NULL: none yet
        )
        """,
        "CREATE INDEX read_schedule_due ON read_schedule (next_read_at)",
    )


@migration
def m015_kinds_intent_kind_and_ticket_change(db: Database) -> None:
    # The kind of ticket an intent creates or links (`servicenow.kinds`), so reconciling looks it up in
    # its own table (every intent before it is an incident's); and when each link's ticket last changed
    # in ServiceNow (its sys_updated_on as last read; NULL until then), shown in Slack.
    _run(
        db,
        "ALTER TABLE intents ADD COLUMN ticket_kind TEXT NOT NULL DEFAULT 'incident'",
        "ALTER TABLE links ADD COLUMN ticket_updated_at TEXT",
    )


@migration
def m016_replicas_claims(db: Database) -> None:
    # Which replica holds an outbox row being sent, or an open intent being carried out or reconciled, and
    # until when (ISO text, `storage.db.iso`): another replica may take it over once lease_until is past.
    # NULL: never claimed since this migration (a row "sending" before it keeps its next_attempt_at lease).
    _run(
        db,
        "ALTER TABLE outbox ADD COLUMN claimed_by TEXT",
        "ALTER TABLE outbox ADD COLUMN lease_until TEXT",
        "ALTER TABLE intents ADD COLUMN claimed_by TEXT",
        "ALTER TABLE intents ADD COLUMN lease_until TEXT",
    )


@migration
def m017_intents_one_open_create(db: Database) -> None:
    # At most one create in flight per anomaly, across replicas (in one process the anomaly's lock orders
    # them): two requests that both checked for an earlier create before either recorded its intent would
    # otherwise both POST. The second insert fails; its request answers "try again" with nothing sent.
    _run(
        db,
        "CREATE UNIQUE INDEX intents_one_open_create ON intents (anomaly_id) "
        "WHERE kind = 'create' AND link_id IS NULL",
    )


@migration
def m018_create_keys(db: Database) -> None:
    # A REST create's Idempotency-Key (`storage.create_keys`): on its intent until the link is stored, then
    # with the link, so the same key asked again answers the same ticket.
    _run(
        db,
        "ALTER TABLE intents ADD COLUMN idempotency_key TEXT",
        """
        CREATE TABLE create_keys (
            key TEXT PRIMARY KEY,
            anomaly_id INTEGER NOT NULL,
            link_id INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
            created_at TEXT NOT NULL
        )
        """,
    )


MIGRATION_LOCK = 0x736E6F77  # "snow": PostgreSQL's advisory lock key of `migrate`


def applied(db: Database) -> list[str]:
    """Names of the migrations recorded in `_migrations`, in the order they were applied (a name breaks a
    tie between two applied in the same microsecond: names are numbered)."""
    if not db["_migrations"].exists():
        return []
    return [row["name"] for row in db.query("SELECT name FROM _migrations ORDER BY applied_at, name")]


def _one_at_a_time(db: Database) -> None:
    """A second process migrating at once waits here, then sees the record. SQLite: `atomic`'s BEGIN
    IMMEDIATE already did; PostgreSQL: a transaction-scoped advisory lock."""
    if dialect(db) == "postgresql":
        db.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK]).fetchall()


def migrate(db: Database) -> list[str]:
    """Apply every migration not yet recorded, in order; return the names applied now (empty: up to date).

    The same list on both backends: each migration's DDL is written for SQLite and translated for
    PostgreSQL by `storage.postgres` (whose DDL is transactional too, so one transaction each holds)."""
    with atomic(db):
        _one_at_a_time(db)
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done_now: list[str] = []
    for name, fn in MIGRATIONS:
        with atomic(db):
            _one_at_a_time(db)
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [name]).fetchone():
                continue
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, iso()])
        done_now.append(name)
    return done_now
