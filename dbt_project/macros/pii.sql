{#- Emails and phones: normalised, then replaced by a keyed hash before they leave staging. -#}

{#- Trimmed (any white space, as Python's str.strip) and lower case; empty becomes null. -#}
{% macro normalise_email(column) -%}
    nullif(lower(regexp_replace({{ column }}, '^\s+|\s+$', '', 'g')), '')
{%- endmacro %}

{#- E.164 ("+442079460123") from the spellings people and systems write:
    "+44 (0)20 7946 0123", "020 7946-0123", "0044 20 7946 0123". A number without "+" or "00" is
    national: its trunk 0 becomes var journeys__phone_country_code. Same rules as
    streams.simulator.normalise_phone. -#}
{% macro normalise_phone(column) -%}
    {%- set code = var('journeys__phone_country_code') | string -%}
    {%- set digits = "regexp_replace(" ~ column ~ ", '[^0-9]', '', 'g')" -%}
    {%- set international -%}
        case
            when regexp_replace({{ column }}, '^\s+', '', 'g') like '+%' then {{ digits }}
            when {{ digits }} like '00%' then substr({{ digits }}, 3)
            when {{ digits }} like '0%' then '{{ code }}' || substr({{ digits }}, 2)
            else {{ digits }}
        end
    {%- endset -%}
    case
        when {{ digits }} = '' then null
        when ({{ international }}) like '{{ code }}0%'
            then '+{{ code }}' || substr(({{ international }}), {{ code | length + 2 }})
        else '+' || ({{ international }})
    end
{%- endmacro %}

{#- sha256(key || '|' || value) as 64 hex digits. Not HMAC: DuckDB has no HMAC function and
    PostgreSQL needs the pgcrypto extension for one. The key is prepended and the value has a
    fixed separator, which is what a pseudonymising hash needs here (no one can compute it without
    the key); length extension does not apply since nothing is authenticated with it.
    The key never appears in SQL text (compiled SQL, logs, docs): it is read from the session,
    where `journeys transform` (or the dbt-duckdb plugin journeys_core.dbt_duckdb_pii) put it. -#}
{% macro pii_hash(expression) -%}
    {{ return(adapter.dispatch('pii_hash', 'journeys')(expression)) }}
{%- endmacro %}

{% macro duckdb__pii_hash(expression) -%}
    sha256(getvariable('journeys_pii_key') || '|' || ({{ expression }}))
{%- endmacro %}

{% macro postgres__pii_hash(expression) -%}
    encode(sha256(convert_to(current_setting('journeys.pii_key') || '|' || ({{ expression }}), 'UTF8')), 'hex')
{%- endmacro %}

{#- on-run-start: stop with one clear sentence when the key is missing, or when PostgreSQL would
    get the development key. Compares hashes only, so the key is never in the SQL. Renders
    nothing: its checks are the queries it runs. -#}
{% macro journeys_check_pii_key() -%}
    {%- if execute -%}
        {%- set development = 'journeys-development-key-do-not-use-in-production' -%}
        {%- if target.type == 'postgres' -%}
            {%- set probe -%}
                select current_setting('journeys.pii_key', true) is not null
                       and current_setting('journeys.pii_key', true) <> '' as present,
                       encode(sha256(convert_to(coalesce(current_setting('journeys.pii_key', true), ''), 'UTF8')), 'hex') as digest
            {%- endset -%}
        {%- else -%}
            {%- set probe -%}
                select coalesce(getvariable('journeys_pii_key'), '') <> '' as present,
                       sha256(coalesce(getvariable('journeys_pii_key'), '')) as digest
            {%- endset -%}
        {%- endif -%}
        {%- set row = run_query(probe).rows[0] -%}
        {%- if not row[0] -%}
            {{ exceptions.raise_compiler_error(
                "JOURNEYS_PII_KEY is not set for this dbt session: run dbt through `journeys transform`, "
                ~ "or set JOURNEYS_PII_KEY (DuckDB) / PGOPTIONS='-c journeys.pii_key=...' (PostgreSQL)") }}
        {%- endif -%}
        {%- if target.type == 'postgres' and row[1] == local_sha256(development) -%}
            {{ exceptions.raise_compiler_error(
                "JOURNEYS_PII_KEY is the development key, which PostgreSQL refuses: set JOURNEYS_PII_KEY to a secret of your own") }}
        {%- endif -%}
        {%- if not flags.FULL_REFRESH and not journeys_staged_with_this_key() -%}
            {{ exceptions.raise_compiler_error(
                "JOURNEYS_PII_KEY is not the key the staged emails and phones were hashed with: an incremental run "
                ~ "would split every returning customer in two. Set the key used before, or, if you changed it on "
                ~ "purpose, run `journeys transform --full-refresh` to hash everything again") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Whether one staged email hash, hashed again from raw with the session's key, still matches
    (true when nothing is staged yet). One row, looked up by raw's key: cheap on every run. -#}
{% macro journeys_staged_with_this_key() -%}
    {%- set staged = adapter.get_relation(database=target.database, schema='staging', identifier='stg_sales__touchpoints') -%}
    {%- if staged is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set probe -%}
        with one_staged as (
            select event_id, email_hash from {{ staged }} where email_hash is not null limit 1
        )
        select one_staged.email_hash = {{ pii_hash(normalise_email('raw_events.email')) }}
        from one_staged
        join {{ source('raw', 'touchpoints') }} as raw_events
            on raw_events.event_id = cast(one_staged.event_id as uuid)
    {%- endset -%}
    {%- set rows = run_query(probe).rows -%}
    {{ return(rows | length == 0 or rows[0][0]) }}
{%- endmacro %}

{#- The sha256 of a constant, computed by the warehouse (Jinja has no hashlib). -#}
{% macro local_sha256(text) -%}
    {%- if target.type == 'postgres' -%}
        {%- set sql = "select encode(sha256(convert_to('" ~ text ~ "', 'UTF8')), 'hex')" -%}
    {%- else -%}
        {%- set sql = "select sha256('" ~ text ~ "')" -%}
    {%- endif -%}
    {{ return(run_query(sql).rows[0][0]) }}
{%- endmacro %}
