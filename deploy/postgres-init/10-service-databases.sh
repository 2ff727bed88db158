#!/usr/bin/env bash
# Two login roles and one database per service, each role reaching only its own database, so a
# service (or a leaked credential) cannot read or change another service's data:
#
#   <service>_migrator  owns the database, its schema and (once migrated) every table; runs the
#                       migrations, and after each grants the service's role what it may do
#                       (pcse_kit/roles.py): rows to read and write, and on the audit trail and
#                       every other append-only table only SELECT and INSERT.
#   <service>           the service's own role: owns nothing, so it can neither truncate a
#                       table nor drop or disable the trigger that keeps the audit append-only.
#
# The postgres image runs this once, when it initialises an empty data directory; changing a
# password here later does nothing to an existing volume (use ALTER ROLE, or recreate the
# volume). The image may source this file rather than execute it, so it neither exits nor
# changes shell options.
#
# Passwords are handed to psql as variables and quoted by psql (:'password'), so any
# character is safe in SQL. They also appear inside the services' postgresql:// URLs, where
# characters such as @ : / ? # % would have to be percent-encoded: keep them URL-safe.

for service in payments records performers; do
    password_var="${service^^}_DB_PASSWORD"
    migrator_var="${service^^}_MIGRATOR_PASSWORD"
    password="${!password_var:?${password_var} must be set for the postgres container}"
    migrator_password="${!migrator_var:?${migrator_var} must be set for the postgres container}"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        --set=name="$service" --set=migrator="${service}_migrator" \
        --set=password="$password" --set=migrator_password="$migrator_password" <<'SQL'
CREATE ROLE :"migrator" LOGIN PASSWORD :'migrator_password';
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"migrator";
-- New databases grant CONNECT to PUBLIC; only the two roles (and the superuser) may connect.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
    # From PostgreSQL 15 the public schema belongs to the database's owner (the migrator) and
    # PUBLIC may not create in it: the service's role can create nothing.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$service" \
        --set=migrator="${service}_migrator" <<'SQL'
ALTER SCHEMA public OWNER TO :"migrator";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
done
unset service password_var migrator_var password migrator_password
