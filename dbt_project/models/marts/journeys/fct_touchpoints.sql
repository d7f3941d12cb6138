-- depends_on: {{ ref('int_identifiers_stitched') }}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ journeys_empty_when_corrected('built_at') }}"
    )
}}
{#- One row per touchpoint: the unified cross-department timeline, with each event's customer,
    its journey (order; support events without one are attributed to an order), its step in the
    journey and whether it is a hand-off between departments.

    Incremental by customer, not by time: a run recomputes every customer that has events staged
    since this table was last built, or whose stitched key changed (two identities merged). All of
    such a customer's events are recomputed, however old, so attribution and hand-offs stay exact;
    the rows that differ are written, and built_at marks them for the models downstream. -#}
{%- set attribution_days = var('journeys__ticket_attribution_days') | int -%}
with

{% if journeys_incremental('built_at') %}
{%- set built_before = watermark(this, 'built_at') %}
-- Customers with events staged, or identifiers re-stitched, since this table was last built: an
-- event is new when staging parsed it after that build, and an old event's key changed when its
-- identity component was recomputed after it (so a merge reaches every event of both customers).
-- Both read the relations directly, so PostgreSQL pushes the filters down into them.
changed_customers as (

    select customer_key from {{ ref('int_touchpoints_stitched') }} where staged_at > {{ built_before }}
    union
    select customer_key from {{ ref('int_identifiers_stitched') }} where stitched_at > {{ built_before }}

),

scoped as (

    select touchpoints.*
    from {{ ref('int_touchpoints_stitched') }} as touchpoints
    where touchpoints.customer_key in (select customer_key from changed_customers)

),
{% else %}
scoped as (

    select * from {{ ref('int_touchpoints_stitched') }}

),
{% endif %}

orders as (

    select
        order_id,
        customer_key,
        min(case when event_type = 'sales.order_placed' then occurred_at end) as placed_at
    from scoped
    where order_id is not null
    group by order_id, customer_key

),

-- What needs an order found for it: each ticket, and each CSAT answer about no ticket and no order.
attribution_units as (

    select
        case when ticket_id is not null then 'ticket:' || ticket_id else 'event:' || event_id end as unit_id,
        customer_key,
        coalesce(
            min(case when event_type = 'support.ticket_opened' then occurred_at end),
            min(occurred_at)
        ) as opened_at,
        min({{ bytewise('order_id') }}) as named_order_id
    from scoped
    where ticket_id is not null
        or (order_id is null and event_type = 'support.csat_submitted')
    group by 1, customer_key

),

candidate_orders as (

    select
        units.unit_id,
        orders.order_id,
        row_number() over (
            partition by units.unit_id
            order by orders.placed_at desc, {{ bytewise('orders.order_id') }} desc
        ) as recency
    from attribution_units as units
    inner join orders
        on orders.customer_key = units.customer_key
        and orders.placed_at < units.opened_at
        -- "within 60 days" counts days on the business's calendar
        and {{ business_date('orders.placed_at') }}
            >= {{ dbt.dateadd('day', -attribution_days, business_date('units.opened_at')) }}
    where units.named_order_id is null

),

unit_orders as (

    select
        units.unit_id,
        coalesce(units.named_order_id, candidates.order_id) as order_id,
        units.named_order_id is null and candidates.order_id is not null as is_order_inferred
    from attribution_units as units
    left join candidate_orders as candidates
        on candidates.unit_id = units.unit_id
        and candidates.recency = 1

),

journey_events as (

    select
        scoped.*,
        case when unit_orders.unit_id is not null then unit_orders.order_id else scoped.order_id end
            as journey_order_id,
        coalesce(unit_orders.is_order_inferred, false) as is_order_inferred
    from scoped
    left join unit_orders
        on unit_orders.unit_id = case
            when scoped.ticket_id is not null then 'ticket:' || scoped.ticket_id
            when scoped.order_id is null and scoped.event_type = 'support.csat_submitted'
                then 'event:' || scoped.event_id
        end

),

-- Events without a journey each form a partition of their own: as one shared null partition
-- they would be sorted together, on one thread.
sequenced as (

    select
        journey_events.*,
        row_number() over journey as journey_step,
        lag(department) over journey as previous_department,
        lag(occurred_at) over journey as previous_occurred_at
    from journey_events
    window journey as (
        partition by coalesce(journey_order_id, 'event:' || event_id)
        order by occurred_at, {{ bytewise('event_id') }}
    )

),

final as (

    select
        -- ids
        event_id,
        customer_key,
        journey_order_id as order_id,
        ticket_id,

        -- strings
        event_type,
        department,
        action,
        source_system,
        channel,
        currency,
        category,
        to_department,
        attempt_outcome,
        reason,
        case when journey_order_id is not null then previous_department end as previous_department,

        -- numerics
        amount,
        items,
        csat_score,
        cast(case when journey_order_id is not null then journey_step end as integer) as journey_step,
        cast(case
            when journey_order_id is not null and previous_department <> department
                then {{ dbt.datediff('previous_occurred_at', 'occurred_at', 'second') }}
        end as bigint) as handoff_seconds,

        -- booleans
        is_damaged,
        is_order_inferred,
        coalesce(journey_order_id is not null and previous_department <> department, false) as is_handoff,

        -- dates and timestamps
        promised_delivery_date,
        {{ business_date('occurred_at') }} as occurred_date,
        occurred_at,
        {{ run_timestamp() }} as built_at

    from sequenced

)

{% if journeys_incremental('built_at') -%}
-- Of the rows recomputed, only those that differ are written: new events, and events whose
-- customer, journey, step or hand-off changed. The other columns never change for an event_id.
-- A join on event_id, not EXCEPT: PostgreSQL sorts both sides of an EXCEPT (3 s here).
select final.*
from final
left join {{ this }} as built on built.event_id = final.event_id
where built.event_id is null
    {%- for column in ['customer_key', 'order_id', 'previous_department', 'journey_step', 'handoff_seconds',
                       'is_order_inferred', 'is_handoff'] %}
    or final.{{ column }} is distinct from built.{{ column }}
    {%- endfor %}
{%- else -%}
select * from final
{%- endif %}
