{#- PostgreSQL: an analyst role (var journeys__analyst_role) that can read the marts schema and
    nothing else. on-run-start creates the role, every mart grants it SELECT in a post-hook, and
    on-run-end lets it into the schema. Nothing is granted on raw, staging or intermediate, so the
    role cannot see them. DuckDB files have no roles: every hook renders nothing there, and dbt runs no statement
    for an empty hook. -#}

{% macro journeys_create_analyst_role() -%}
    {%- if target.type == 'postgres' -%}
    do $$
    begin
        if not exists (select from pg_roles where rolname = '{{ var("journeys__analyst_role") }}') then
            create role {{ adapter.quote(var("journeys__analyst_role")) }} nologin;
        end if;
    exception
        when duplicate_object or unique_violation then null;  -- created meanwhile by another run
    end
    $$
    {%- endif -%}
{%- endmacro %}

{% macro journeys_grant_select(relation) -%}
    {%- if target.type == 'postgres' -%}
    grant select on {{ relation }} to {{ adapter.quote(var("journeys__analyst_role")) }}
    {%- endif -%}
{%- endmacro %}

{% macro journeys_grant_marts_schema() -%}
    {%- if target.type == 'postgres' and execute -%}
        {%- set found = run_query("select 1 from information_schema.schemata where schema_name = 'marts'") -%}
        {%- if found.rows | length > 0 -%}
    grant usage on schema marts to {{ adapter.quote(var("journeys__analyst_role")) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
