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

{#- `expression` (text) as `type`, or null when it is not a value of that type, instead of failing
    the whole build: one bad attribute must not stop every later run of an append-only staging.
    DuckDB has try_cast; PostgreSQL 15 has no safe cast, so the text is checked first. -#}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast', 'journeys')(expression, type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{% macro postgres__try_cast(expression, type) -%}
    {%- set text = '(' ~ expression ~ ')' -%}
    {%- set numeric = modules.re.match('^numeric\((\d+),\s*(\d+)\)$', type | replace(' ', '')) -%}
    {%- if type == 'integer' -%}
        case when {{ text }} ~ '^\s*[+-]?[0-9]{1,18}\s*$' then
            case when cast({{ text }} as bigint) between -2147483648 and 2147483647 then cast({{ text }} as integer) end
        end
    {%- elif numeric -%}
        {#- the largest magnitude that rounds into numeric(p, s), e.g. 9999999999.995 for (12, 2) -#}
        {%- set whole, scale = numeric.group(1) | int - numeric.group(2) | int, numeric.group(2) | int -%}
        {%- set bound = '9' * whole ~ '.' ~ '9' * scale ~ '5' -%}
        {#- the outer cast keeps the type's precision, which PostgreSQL's CASE drops -#}
        cast(case when {{ text }} ~ '^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,4})?\s*$' then
            case when abs(cast({{ text }} as numeric)) < {{ bound }} then cast({{ text }} as {{ type }}) end
        end as {{ type }})
    {%- elif type == 'date' -%}
        case when {{ text }} ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' and substr({{ text }}, 1, 4) <> '0000' then
            case when cast(substr({{ text }}, 9, 2) as integer) <= extract(day from
                make_date(cast(substr({{ text }}, 1, 4) as integer), cast(substr({{ text }}, 6, 2) as integer), 1)
                + interval '1 month' - interval '1 day'
            ) then cast({{ text }} as date) end
        end
    {%- elif type == 'boolean' -%}
        case when lower(trim({{ text }})) in ('true', 'false') then cast(lower(trim({{ text }})) as boolean) end
    {%- else -%}
        {{ exceptions.raise_compiler_error("try_cast has no safe PostgreSQL cast to " ~ type) }}
    {%- endif -%}
{%- endmacro %}

{#- The names of the JSON attributes (name -> type) that are present but not of their type, as
    "amount, items", or null when every one is typed. -#}
{% macro untyped_attributes(column, types) -%}
    nullif(concat_ws(', '
        {%- for name, type in types.items() %},
        case when {{ json_text(column, name) }} is not null and {{ try_cast(json_text(column, name), type) }} is null
            then '{{ name }}' end
        {%- endfor %}
    ), '')
{%- endmacro %}
