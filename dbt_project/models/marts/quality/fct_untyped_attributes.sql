{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ journeys_empty_when_corrected('staged_at') }}"
    )
}}
{#- One row per event with an attribute that is not of its type (an amount too large for the
    warehouse, a date that does not exist): the event is kept, with that attribute unknown (null),
    and listed here for a person to correct (`journeys events correct`). The marts gate counts them.

    Incremental: staging parses each event once, so a run adds the events staged since its last. -#}
{%- set departments = ['sales', 'shipping', 'support'] -%}
with

staged as (

    {% for department in departments %}
    select event_id, event_type, department, untyped_attributes, occurred_at, staged_at
    from {{ ref('stg_' ~ department ~ '__touchpoints') }}
    where untyped_attributes is not null
    {%- if journeys_incremental('staged_at') %}
        and staged_at > {{ watermark(this, 'staged_at') }}
    {%- endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select
    -- ids
    event_id,

    -- strings
    event_type,
    department,
    untyped_attributes,

    -- timestamps
    occurred_at,
    staged_at
from staged
