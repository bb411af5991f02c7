"""City lifeline monitoring (城市生命线, contract §10): devices, thresholds, alarm state, raw readings.

- `devices`: the registry (`yunguan devices load`), each device placed and routed like a report (area codes
  per level) and bound to its responsible unit.
- `device_kinds` and `device_thresholds` (`yunguan thresholds load`): per kind how long a silent device counts
  as offline and which 小类 its tickets get; per kind, metric and level (1–3) the threshold, its direction and
  debounce (consecutive readings or seconds to raise, to clear) and hysteresis.
- `device_metric_state`: the threshold state machine of each (device, metric) (dispatch.lifeline), written in
  the transaction that changes the device's ticket, so it survives restarts and rebalances; `last_at` makes a
  redelivered reading change nothing.
- `device_status`: what the device list shows (last reading, alarm level, offline) per device.
- `device_tickets`: the device's one ticket per (device, kind of alarm: `threshold` or `offline`).
- `sensor_readings`: the raw series, one row per (device, metric, instant), partitioned by day (declarative;
  partitions made on demand by `lifeline_ensure_partition` and dropped by retention with
  `lifeline_drop_partitions_before`, both SECURITY DEFINER so the application role, which may not create
  tables, can call them), with a BRIN index on `at`.

Revision ID: 0015_lifeline
Revises: 0014_api_keys
Create Date: 2026-11-30
"""
from alembic import op

revision = "0015_lifeline"
down_revision = "0014_api_keys"
branch_labels = None
depends_on = None

ROLE = "yunguan_app"  # store.roles.APP_ROLE, granted in 0010


def upgrade() -> None:
    op.execute("""
        CREATE TABLE device_kinds (
            kind varchar(32) PRIMARY KEY,
            offline_after_s double precision NOT NULL,
            category varchar(16) REFERENCES categories (code),
            offline_category varchar(16) REFERENCES categories (code),
            CONSTRAINT device_kinds_offline_after CHECK (offline_after_s > 0)
        )
    """)
    op.execute("""
        CREATE TABLE device_thresholds (
            id serial PRIMARY KEY,
            kind varchar(32) NOT NULL REFERENCES device_kinds (kind) ON DELETE CASCADE,
            metric varchar(64) NOT NULL,
            level smallint NOT NULL,
            direction varchar(8) NOT NULL,
            value double precision NOT NULL,
            raise_count integer,
            raise_seconds double precision,
            clear_count integer,
            clear_seconds double precision,
            hysteresis double precision NOT NULL DEFAULT 0,
            CONSTRAINT device_thresholds_kind_metric_level UNIQUE (kind, metric, level),
            CONSTRAINT device_thresholds_level CHECK (level BETWEEN 1 AND 3),
            CONSTRAINT device_thresholds_direction CHECK (direction IN ('above', 'below')),
            CONSTRAINT device_thresholds_hysteresis CHECK (hysteresis >= 0)
        )
    """)
    op.execute("""
        CREATE TABLE devices (
            device_id varchar(64) PRIMARY KEY,
            kind varchar(32) NOT NULL,
            name text,
            network text,
            location geometry(Point, 4326) NOT NULL,
            unit_code varchar(32) NOT NULL REFERENCES units (code),
            district_code varchar(32),
            street_code varchar(32),
            community_code varchar(32),
            grid_code varchar(32),
            area jsonb NOT NULL DEFAULT '{}'::jsonb,
            routing jsonb NOT NULL DEFAULT '{}'::jsonb,
            registered_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT devices_device_id CHECK (device_id <> '')
        )
    """)
    op.execute("CREATE INDEX ix_devices_kind ON devices (kind)")
    op.execute("CREATE INDEX ix_devices_location ON devices USING gist (location)")
    op.execute("""
        CREATE TABLE device_metric_state (
            device_id varchar(64) NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
            metric varchar(64) NOT NULL,
            level smallint NOT NULL DEFAULT 0,
            state jsonb NOT NULL,
            last_at timestamptz NOT NULL,
            PRIMARY KEY (device_id, metric)
        )
    """)
    op.execute("""
        CREATE TABLE device_status (
            device_id varchar(64) PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
            last_at timestamptz,
            level smallint NOT NULL DEFAULT 0,
            offline boolean NOT NULL DEFAULT false,
            offline_since timestamptz
        )
    """)
    op.execute("""
        CREATE TABLE device_tickets (
            device_id varchar(64) NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
            alarm varchar(16) NOT NULL,
            ticket_id bigint NOT NULL REFERENCES tickets (id),
            level smallint NOT NULL DEFAULT 0,
            opened_at timestamptz NOT NULL,
            PRIMARY KEY (device_id, alarm),
            CONSTRAINT device_tickets_alarm CHECK (alarm IN ('threshold', 'offline'))
        )
    """)
    op.execute("""
        CREATE TABLE sensor_readings (
            device_id varchar(64) NOT NULL,
            metric varchar(64) NOT NULL,
            at timestamptz NOT NULL,
            value double precision NOT NULL,
            PRIMARY KEY (device_id, metric, at)
        ) PARTITION BY RANGE (at)
    """)
    op.execute("CREATE INDEX ix_sensor_readings_at ON sensor_readings USING brin (at)")
    op.execute("""
        CREATE FUNCTION lifeline_ensure_partition(day date) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            name text := 'sensor_readings_' || to_char(day, 'YYYYMMDD');
        BEGIN
            IF to_regclass(name) IS NULL THEN
                EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF sensor_readings '
                               'FOR VALUES FROM (%L) TO (%L)', name, day::timestamp AT TIME ZONE 'UTC',
                               (day + 1)::timestamp AT TIME ZONE 'UTC');
            END IF;
        EXCEPTION WHEN duplicate_table THEN NULL;
        END$$
    """)
    op.execute("""
        CREATE FUNCTION lifeline_drop_partitions_before(day date) RETURNS integer
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        DECLARE
            part record;
            dropped integer := 0;
        BEGIN
            FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        WHERE i.inhparent = 'sensor_readings'::regclass
                          AND c.relname ~ '^sensor_readings_[0-9]{8}$'
                          AND to_date(right(c.relname, 8), 'YYYYMMDD') < day LOOP
                EXECUTE format('DROP TABLE %I', part.relname);
                dropped := dropped + 1;
            END LOOP;
            RETURN dropped;
        END$$
    """)
    op.execute(f"""
        DO $$BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                REVOKE ALL ON FUNCTION lifeline_ensure_partition(date) FROM PUBLIC;
                REVOKE ALL ON FUNCTION lifeline_drop_partitions_before(date) FROM PUBLIC;
                GRANT EXECUTE ON FUNCTION lifeline_ensure_partition(date) TO {ROLE};
                GRANT EXECUTE ON FUNCTION lifeline_drop_partitions_before(date) TO {ROLE};
            END IF;
        END$$
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION lifeline_drop_partitions_before(date)")
    op.execute("DROP FUNCTION lifeline_ensure_partition(date)")
    op.execute("DROP TABLE sensor_readings")
    op.execute("DROP TABLE device_tickets")
    op.execute("DROP TABLE device_status")
    op.execute("DROP TABLE device_metric_state")
    op.execute("DROP TABLE devices")
    op.execute("DROP TABLE device_thresholds")
    op.execute("DROP TABLE device_kinds")
