{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ journeys_empty_when_corrected('built_at') }}"
    )
}}
{#- One row per order journey: stage times, delivery against the promise, tickets, first
    response, resolution, CSAT, refunds, which department owned the problems, and the outcome
    (rules: docs/metrics.md). Dates are on the business's calendar (journeys__business_timezone).

    Incremental by customer: a run rebuilds every journey of each customer whose events
    fct_touchpoints rebuilt since this table was last built (a later order changes how earlier
    journeys end), plus customers with a journey whose settle date or overdue line lies between
    the day it was judged and this run's as-of date (time alone changes its outcome). -#}
{%- set as_of = as_of_date(var('journeys__as_of')) -%}
with

journey_events as (

    select * from {{ ref('fct_touchpoints') }}
    where order_id is not null

),

{% if journeys_incremental('built_at') %}
-- Customers with events fct_touchpoints rebuilt since this table was last built, and customers
-- with a journey that time alone settles (or un-settles, judged at an earlier date) since.
changed_customers as (

    select customer_key
    from {{ ref('fct_touchpoints') }}
    where built_at > {{ watermark(this, 'built_at') }}

    union

    select customer_key
    from {{ this }}
    where coalesce(settles_on <= judged_on, false) <> coalesce(settles_on <= {{ as_of }}, false)

),

scoped as (

    select journey_events.*
    from journey_events
    inner join changed_customers
        on changed_customers.customer_key = journey_events.customer_key

),
{% else %}
scoped as (

    select * from journey_events

),
{% endif %}

placed as (

    select
        order_id, amount, currency, items, channel, promised_delivery_date,
        row_number() over (partition by order_id order by occurred_at, {{ bytewise('event_id') }}) as placement
    from scoped
    where event_type = 'sales.order_placed'

),

latest_csat as (

    select
        order_id, csat_score,
        row_number() over (partition by order_id order by occurred_at desc, {{ bytewise('event_id') }} desc)
            as recency
    from scoped
    where event_type = 'support.csat_submitted'

),

paths as (

    select
        order_id,
        {{ dbt.listagg('department', "' > '", 'order by journey_step') }} as journey_path
    from scoped
    where journey_step = 1 or is_handoff
    group by order_id

),

events_summarised as (

    select
        order_id,
        customer_key,
        min(case when event_type = 'sales.order_placed' then occurred_at end) as placed_at,
        min(case when event_type = 'sales.payment_captured' then occurred_at end) as paid_at,
        min(case when event_type = 'shipping.shipment_dispatched' then occurred_at end) as shipped_at,
        min(case when event_type = 'shipping.delivered' then occurred_at end) as delivered_at,
        min(case when event_type = 'sales.order_cancelled' then occurred_at end) as cancelled_at,
        max(occurred_at) as last_touchpoint_at,
        {{ dbt.bool_or("event_type = 'shipping.delivered' and coalesce(is_damaged, false)") }} as is_damaged,
        {{ dbt.bool_or("event_type = 'shipping.return_received'") }} as is_returned,
        sum(case when event_type = 'shipping.delivery_attempted' then 1 else 0 end) as failed_delivery_attempts,
        sum(case when event_type = 'sales.refund_issued' then 1 else 0 end) as refunds,
        cast(sum(case when event_type = 'sales.refund_issued' then amount else 0 end) as numeric(18, 2)) as refunded_amount,
        sum(case when is_handoff then 1 else 0 end) as handoffs,
        count(distinct department) as departments_touched,
        count(*) as touchpoints
    from scoped
    group by order_id, customer_key

),

tickets as (

    select
        tickets.*,
        row_number() over (
            partition by tickets.order_id order by tickets.opened_at, {{ bytewise('tickets.ticket_id') }}
        ) as ticket_number
    from {{ ref('fct_tickets') }} as tickets
    inner join events_summarised on events_summarised.order_id = tickets.order_id

),

tickets_summarised as (

    select
        order_id,
        count(*) as tickets,
        sum(case when is_open then 1 else 0 end) as open_tickets,
        sum(case when owner_department = 'sales' then 1 else 0 end) as sales_tickets,
        sum(case when owner_department = 'shipping' then 1 else 0 end) as shipping_tickets,
        sum(case when owner_department = 'support' then 1 else 0 end) as support_tickets,
        min(opened_at) as first_ticket_opened_at,
        max(resolved_at) as last_ticket_resolved_at,
        max(case when ticket_number = 1 then first_response_seconds end) as first_response_seconds,
        sum(case when has_impossible_sequence then 1 else 0 end) as impossible_tickets
    from tickets
    group by order_id

),

journeys as (

    select
        events_summarised.*,
        placed.amount,
        placed.currency,
        placed.items,
        placed.channel,
        placed.promised_delivery_date,
        latest_csat.csat_score,
        paths.journey_path,
        coalesce(tickets_summarised.tickets, 0) as tickets,
        coalesce(tickets_summarised.open_tickets, 0) as open_tickets,
        coalesce(tickets_summarised.sales_tickets, 0) as sales_tickets,
        coalesce(tickets_summarised.shipping_tickets, 0) as shipping_tickets,
        coalesce(tickets_summarised.support_tickets, 0) as support_tickets,
        tickets_summarised.first_ticket_opened_at,
        tickets_summarised.last_ticket_resolved_at,
        tickets_summarised.first_response_seconds,
        coalesce(tickets_summarised.impossible_tickets, 0) as impossible_tickets,
        {{ settles_on('placed.promised_delivery_date', 'events_summarised.delivered_at', 'events_summarised.cancelled_at',
                      'events_summarised.last_touchpoint_at') }} as settles_on,
        coalesce(
            max(events_summarised.placed_at) over (partition by events_summarised.customer_key)
                > events_summarised.placed_at,
            false
        ) as has_later_order
    from events_summarised
    left join placed
        on placed.order_id = events_summarised.order_id
        and placed.placement = 1
    left join latest_csat
        on latest_csat.order_id = events_summarised.order_id
        and latest_csat.recency = 1
    left join paths
        on paths.order_id = events_summarised.order_id
    left join tickets_summarised
        on tickets_summarised.order_id = events_summarised.order_id

),

flagged as (

    -- On time is judged on the business's calendar: a delivery at 22:00 local time on the promised
    -- date is on time, whatever the UTC date. A stage before the one it follows is impossible: the
    -- events are kept, the journey is flagged and left out of durations.
    select
        journeys.*,
        {{ business_date('placed_at') }} as placed_date,
        {{ business_date('delivered_at') }} as delivered_date,
        case
            when delivered_at is not null and promised_delivery_date is not null
                then {{ business_date('delivered_at') }} <= promised_delivery_date
        end as is_delivered_on_time,
        coalesce({{ business_date('delivered_at') }} > promised_delivery_date, false) as is_delivered_late,
        coalesce(shipped_at < placed_at, false)
            or coalesce(delivered_at < placed_at, false)
            or coalesce(delivered_at < shipped_at, false)
            as has_impossible_stages,
        coalesce(settles_on <= {{ as_of }}, false) as is_past_settle_date,
        -- undelivered past its overdue line: the settle date of an undelivered journey is that line
        coalesce(delivered_at is null and cancelled_at is null and settles_on <= {{ as_of }}, false)
            as is_overdue
    from journeys

),

problems as (

    select
        flagged.*,
        is_delivered_late or is_overdue or is_damaged or tickets > 0 or refunds > 0 or is_returned
            as has_problem,
        -- someone heard of it: the customer opened a ticket, rated, returned, or was refunded
        tickets > 0 or refunds > 0 or is_returned or csat_score is not null as is_heard
    from flagged

),

owned as (

    -- Problems by the department that caused them: tickets by their owner, late (or overdue)
    -- and damaged deliveries to shipping, cancellations to sales. The first one names the owner.
    select
        problems.*,
        sales_tickets + case when cancelled_at is not null then 1 else 0 end as sales_problems,
        shipping_tickets
            + case when is_delivered_late or is_overdue then 1 else 0 end
            + case when is_damaged then 1 else 0 end as shipping_problems,
        support_tickets as support_problems
    from problems

),

first_problems as (

    select order_id, department as problem_owner_department
    from (
        select
            order_id, department,
            row_number() over (partition by order_id order by problem_at, department) as problem_number
        from (
            select order_id, owner_department as department, opened_at as problem_at
            from tickets
            union all
            select order_id, 'shipping', coalesce(delivered_at, {{ dbt.dateadd('day', 1, 'cast(promised_delivery_date as timestamp)') }})
            from owned
            where is_delivered_late or is_overdue or is_damaged
            union all
            select order_id, 'sales', cancelled_at
            from owned
            where cancelled_at is not null
        ) as candidates
    ) as numbered
    where problem_number = 1

),

final as (

    select
        -- ids
        owned.order_id,
        owned.customer_key,

        -- strings
        owned.channel,
        owned.currency,
        owned.journey_path,
        first_problems.problem_owner_department,
        case
            when owned.cancelled_at is not null then 'cancelled'
            when owned.open_tickets > 0 or owned.is_overdue then 'unresolved'
            -- on time needs the promise: delivered before its order_placed arrived waits (below)
            when owned.is_delivered_on_time and not owned.has_problem then 'smooth'
            when owned.has_problem and (owned.csat_score >= 4 or owned.has_later_order) then 'recovered'
            when owned.has_problem and (owned.csat_score <= 2 or owned.refunds > 0) then 'lost'
            when not owned.is_past_settle_date then 'in_progress'
            -- settled: delivered more than journeys__settle_days ago, with no verdict above
            when owned.has_problem and not owned.is_heard then 'silent'
            -- heard, every ticket resolved, and no complaint or refund followed
            when owned.has_problem then 'recovered'
            -- no problem seen, but no promise to judge the delivery by (its order_placed never came)
            else 'smooth'
        end as outcome,

        -- numerics
        owned.amount,
        owned.refunded_amount,
        owned.items,
        cast(owned.touchpoints as integer) as touchpoints,
        cast(owned.departments_touched as integer) as departments_touched,
        cast(owned.handoffs as integer) as handoffs,
        cast(owned.failed_delivery_attempts as integer) as failed_delivery_attempts,
        cast(owned.tickets as integer) as tickets,
        cast(owned.open_tickets as integer) as open_tickets,
        cast(owned.refunds as integer) as refunds,
        owned.csat_score,
        cast(owned.sales_problems as integer) as sales_problems,
        cast(owned.shipping_problems as integer) as shipping_problems,
        cast(owned.support_problems as integer) as support_problems,
        cast(owned.first_response_seconds as bigint) as first_response_seconds,
        cast(case when owned.tickets > 0 and owned.open_tickets = 0 then
            {{ dbt.datediff('owned.first_ticket_opened_at', 'owned.last_ticket_resolved_at', 'second') }}
        end as bigint) as resolution_seconds,
        cast(case when not owned.has_impossible_stages then
            {{ dbt.datediff('owned.placed_at', 'owned.delivered_at', 'second') }}
        end as bigint) as placed_to_delivered_seconds,

        -- booleans
        owned.delivered_at is not null as is_delivered,
        owned.is_delivered_on_time,
        owned.is_delivered_late,
        owned.is_damaged,
        owned.is_overdue,
        owned.is_returned,
        owned.cancelled_at is not null as is_cancelled,
        owned.has_problem,
        owned.has_later_order,
        owned.has_impossible_stages or owned.impossible_tickets > 0 as has_impossible_sequence,

        -- dates and timestamps
        owned.promised_delivery_date,
        owned.placed_date,
        owned.delivered_date,
        owned.settles_on,
        {{ as_of }} as judged_on,
        owned.placed_at,
        owned.paid_at,
        owned.shipped_at,
        owned.delivered_at,
        owned.cancelled_at,
        owned.last_touchpoint_at,
        cast('{{ business_timezone() }}' as {{ dbt.type_string() }}) as business_timezone,
        {{ run_timestamp() }} as built_at

    from owned
    left join first_problems
        on first_problems.order_id = owned.order_id

)

select * from final
