{#- The few expressions whose spelling differs between DuckDB and PostgreSQL. -#}

{#- A text attribute of a JSON column (DuckDB json, PostgreSQL jsonb); JSON null becomes null. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'journeys')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{#- A timestamptz as a UTC timestamp without time zone, whatever the session time zone. -#}
{% macro to_utc(column) -%}
    cast(({{ column }}) at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- Text compared byte by byte, so min() and order by agree across warehouses and collations. -#}
{% macro bytewise(expression) -%}
    {{ return(adapter.dispatch('bytewise', 'journeys')(expression)) }}
{%- endmacro %}

{% macro default__bytewise(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__bytewise(expression) -%}
    ({{ expression }}) collate "C"
{%- endmacro %}

{#- Continuous percentile (interpolated), as double precision. -#}
{% macro percentile(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{#- The as-of date of a run as a SQL date literal: `as_of` (var journeys__as_of, read by the
    model itself so unit tests can set it), else the date this dbt invocation started on the
    business's calendar (var journeys__business_timezone). -#}
{% macro as_of_date(as_of=none) -%}
    {%- set today = run_started_at.astimezone(modules.pytz.timezone(business_timezone())).strftime("%Y-%m-%d") -%}
    cast('{{ as_of or today }}' as date)
{%- endmacro %}

{#- When this dbt invocation started, as a UTC timestamp literal: the same in every model of a
    run, so it can mark which rows a run wrote (incremental watermarks). -#}
{% macro run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- The largest `column` of `relation` as a SQL timestamp literal, read when the model runs, so the
    filter it goes into is a constant the warehouse can prune storage with (a scalar subquery
    would not be). Only for incremental runs, where `relation` exists. -#}
{% macro watermark(relation, column) -%}
    {%- if execute -%}
        {%- set value = run_query("select max(" ~ column ~ ") from " ~ relation).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if value -%}
        cast('{{ value }}' as timestamp)
    {%- else -%}
        cast('1900-01-01' as timestamp)
    {%- endif -%}
{%- endmacro %}

{#- post-hook of every table: PostgreSQL plans the next model's joins from fresh statistics
    (autovacuum would analyze a table only a minute or more after dbt wrote it). DuckDB keeps its
    statistics as it writes, so the hook renders nothing there (and dbt runs no statement). -#}
{% macro journeys_analyze(relation) -%}
    {%- if target.type == 'postgres' and config.get('materialized') in ('table', 'incremental') -%}
    analyze {{ relation }}
    {%- endif -%}
{%- endmacro %}
