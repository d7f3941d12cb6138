{#- The business's calendar: instants stay UTC, judgements by date use the business's time zone
    (var journeys__business_timezone, an IANA name; JOURNEYS_BUSINESS_TIMEZONE sets it). -#}

{#- The zone, checked to be a plain IANA name before it goes into SQL. -#}
{% macro business_timezone() -%}
    {%- set zone = var('journeys__business_timezone') | string -%}
    {%- if not modules.re.match('^[A-Za-z][A-Za-z0-9_+/-]*$', zone) -%}
        {{ exceptions.raise_compiler_error(
            "journeys__business_timezone '" ~ zone ~ "' is not an IANA time zone name such as "
            ~ "America/Sao_Paulo or Asia/Tokyo: set JOURNEYS_BUSINESS_TIMEZONE to one") }}
    {%- endif -%}
    {{ return(zone) }}
{%- endmacro %}

{#- A UTC timestamp (without time zone) as the business's wall-clock time. -#}
{% macro business_time(column) -%}
    {%- set zone = business_timezone() -%}
    {%- if zone in ('UTC', 'Etc/UTC') -%}
        {{ column }}
    {%- else -%}
        cast((cast({{ column }} as timestamp) at time zone 'UTC') at time zone '{{ zone }}' as timestamp)
    {%- endif -%}
{%- endmacro %}

{#- The business's calendar date of a UTC timestamp. -#}
{% macro business_date(column) -%}
    cast({{ business_time(column) }} as date)
{%- endmacro %}

{#- The first day of the business week (ISO: Monday) or month of a UTC timestamp, as a date. -#}
{% macro business_period_start(period, column) -%}
    cast({{ dbt.date_trunc(period, business_time(column)) }} as date)
{%- endmacro %}

{#- on-run-start: the incremental marts hold dates of one time zone. A build in another zone would
    mix two calendars, so it is refused unless everything is rebuilt. Renders nothing. -#}
{% macro journeys_check_business_timezone() -%}
    {%- if execute and not flags.FULL_REFRESH -%}
        {%- set zone = business_timezone() -%}
        {%- set journeys = adapter.get_relation(database=target.database, schema='marts', identifier='fct_order_journeys') -%}
        {%- if journeys is not none -%}
            {%- set columns = adapter.get_columns_in_relation(journeys) | map(attribute='name') | list -%}
            {%- if 'business_timezone' not in columns -%}
                {{ exceptions.raise_compiler_error(
                    "the marts were built before they judged dates in the business's time zone: run "
                    ~ "`journeys transform --full-refresh` once to rebuild them") }}
            {%- endif -%}
            {%- set built = run_query("select business_timezone from " ~ journeys ~ " limit 1").rows -%}
            {%- if built | length > 0 and built[0][0] != zone -%}
                {{ exceptions.raise_compiler_error(
                    "JOURNEYS_BUSINESS_TIMEZONE is " ~ zone ~ " but the marts were built in " ~ built[0][0]
                    ~ ": set JOURNEYS_BUSINESS_TIMEZONE=" ~ built[0][0] ~ " again, or run `journeys transform "
                    ~ "--full-refresh` to judge every date again in " ~ zone) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
