-- depends_on: {{ ref('int_identifiers_stitched') }}
{{
    config(
        materialized='incremental',
        unique_key='customer_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook=[
            "{{ journeys_empty_when_corrected('built_at') }}",
            "{{ journeys_delete_merged_customers() }}",
        ]
    )
}}
{#- One row per stitched customer: orders, revenue, first and last order, repeat purchase, open
    tickets, mean CSAT, last proactive check-in, problem journeys, a 0-100 health score and an
    at-risk flag.

    Incremental by customer: a run rebuilds the customers that have touchpoints, journeys or
    tickets the facts rebuilt since this table was last built. Customers whose identity merged
    into another one are deleted first (macro journeys_delete_merged_customers). -#}
with

{% if journeys_incremental('built_at') %}
{%- set built_before = watermark(this, 'built_at') %}
customers as (

    select customer_key from {{ ref('fct_touchpoints') }} where built_at > {{ built_before }}
    union
    select customer_key from {{ ref('fct_order_journeys') }} where built_at > {{ built_before }}
    union
    select customer_key from {{ ref('fct_tickets') }} where built_at > {{ built_before }}

),
{% else %}
customers as (

    select distinct customer_key from {{ ref('int_identifiers_stitched') }}

),
{% endif %}

journeys as (

    select
        fct_order_journeys.*,
        row_number() over (
            partition by fct_order_journeys.customer_key
            order by placed_at desc nulls last, {{ bytewise('order_id') }} desc
        ) as recency
    from {{ ref('fct_order_journeys') }}
    inner join customers on customers.customer_key = fct_order_journeys.customer_key

),

journeys_summarised as (

    select
        customer_key,
        count(*) as orders,
        sum(case when not is_cancelled then 1 else 0 end) as completed_orders,
        -- unknown is not zero: an order whose amount is unknown (its order_placed has not arrived)
        -- adds nothing, and priced_orders says how many the revenue was taken over
        sum(case when not is_cancelled then amount end) as revenue,
        sum(case when not is_cancelled and amount is not null then 1 else 0 end) as priced_orders,
        sum(case when not is_cancelled then refunded_amount else 0 end) as refunded_amount,
        case when count(distinct currency) > 1 then 'mixed' else max(currency) end as currency,
        min(placed_at) as first_order_at,
        max(placed_at) as last_order_at,
        sum(case when has_problem then 1 else 0 end) as problem_journeys,
        sum(case when outcome = 'smooth' then 1 else 0 end) as smooth_journeys,
        sum(case when outcome = 'recovered' then 1 else 0 end) as recovered_journeys,
        sum(case when outcome = 'lost' then 1 else 0 end) as lost_journeys,
        sum(case when outcome = 'silent' then 1 else 0 end) as silent_journeys,
        sum(case when outcome = 'unresolved' then 1 else 0 end) as unresolved_journeys,
        max(case when recency = 1 then order_id end) as last_order_id,
        max(case when recency = 1 then outcome end) as last_journey_outcome,
        max(case when recency = 1 then placed_at end) as last_journey_placed_at
    from journeys
    group by customer_key

),

tickets_summarised as (

    select
        customer_key,
        count(*) as tickets,
        sum(case when is_open then 1 else 0 end) as open_tickets
    from {{ ref('fct_tickets') }}
    where customer_key in (select customer_key from customers)
    group by customer_key

),

touchpoints_summarised as (

    select
        customer_key,
        avg(case when event_type = 'support.csat_submitted' then csat_score end) as mean_csat,
        count(case when event_type = 'support.csat_submitted' then csat_score end) as csat_ratings,
        max(case when action = 'check_in' then occurred_at end) as last_check_in_at,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at
    from {{ ref('fct_touchpoints') }}
    where customer_key in (select customer_key from customers)
    group by customer_key

),

joined as (

    select
        customers.customer_key,
        coalesce(journeys_summarised.orders, 0) as orders,
        coalesce(journeys_summarised.completed_orders, 0) as completed_orders,
        -- no completed order is a revenue of 0; completed orders of unknown amount are unknown
        case when coalesce(journeys_summarised.completed_orders, 0) = 0 then 0 else journeys_summarised.revenue end
            as revenue,
        coalesce(journeys_summarised.priced_orders, 0) as priced_orders,
        coalesce(journeys_summarised.refunded_amount, 0) as refunded_amount,
        journeys_summarised.currency,
        journeys_summarised.first_order_at,
        journeys_summarised.last_order_at,
        coalesce(journeys_summarised.problem_journeys, 0) as problem_journeys,
        coalesce(journeys_summarised.smooth_journeys, 0) as smooth_journeys,
        coalesce(journeys_summarised.recovered_journeys, 0) as recovered_journeys,
        coalesce(journeys_summarised.lost_journeys, 0) as lost_journeys,
        coalesce(journeys_summarised.silent_journeys, 0) as silent_journeys,
        coalesce(journeys_summarised.unresolved_journeys, 0) as unresolved_journeys,
        journeys_summarised.last_order_id,
        journeys_summarised.last_journey_outcome,
        journeys_summarised.last_journey_placed_at,
        coalesce(tickets_summarised.tickets, 0) as tickets,
        coalesce(tickets_summarised.open_tickets, 0) as open_tickets,
        touchpoints_summarised.mean_csat,
        coalesce(touchpoints_summarised.csat_ratings, 0) as csat_ratings,
        touchpoints_summarised.last_check_in_at,
        touchpoints_summarised.first_seen_at,
        touchpoints_summarised.last_seen_at
    from customers
    left join journeys_summarised on journeys_summarised.customer_key = customers.customer_key
    left join tickets_summarised on tickets_summarised.customer_key = customers.customer_key
    left join touchpoints_summarised on touchpoints_summarised.customer_key = customers.customer_key

),

scored as (

    select
        joined.*,
        coalesce(last_check_in_at >= last_journey_placed_at, false) as checked_in_since_last_order,
        coalesce(last_journey_outcome in ('lost', 'unresolved', 'silent'), false) as last_journey_went_badly,
        -- Health score (0-100), documented in _customers__models.yml: start at 50, reward repeat
        -- business and journeys that went well, penalise lost, unresolved and silent journeys and
        -- open tickets, move with CSAT, and credit a check-in since the last order.
        case when orders > 0 then
            greatest(0, least(100,
                50
                + 10 * least(greatest(completed_orders - 1, 0), 2)
                + 5 * least(smooth_journeys, 3)
                + 5 * least(recovered_journeys, 2)
                - 15 * least(lost_journeys, 2)
                - 10 * least(unresolved_journeys, 2)
                - 10 * least(silent_journeys, 2)
                - 10 * least(open_tickets, 2)
                + round(4 * (coalesce(mean_csat, 3) - 3))
                + case when coalesce(last_check_in_at >= last_journey_placed_at, false) then 5 else 0 end
            ))
        end as health_score
    from joined

),

final as (

    select
        -- ids
        customer_key,
        last_order_id,

        -- strings
        currency,
        last_journey_outcome,

        -- numerics
        cast(orders as integer) as orders,
        cast(completed_orders as integer) as completed_orders,
        cast(revenue as numeric(18, 2)) as revenue,
        cast(priced_orders as integer) as priced_orders,
        cast(refunded_amount as numeric(18, 2)) as refunded_amount,
        cast(revenue - refunded_amount as numeric(18, 2)) as net_revenue,
        cast(problem_journeys as integer) as problem_journeys,
        cast(smooth_journeys as integer) as smooth_journeys,
        cast(recovered_journeys as integer) as recovered_journeys,
        cast(lost_journeys as integer) as lost_journeys,
        cast(silent_journeys as integer) as silent_journeys,
        cast(unresolved_journeys as integer) as unresolved_journeys,
        cast(tickets as integer) as tickets,
        cast(open_tickets as integer) as open_tickets,
        cast(mean_csat as numeric(4, 2)) as mean_csat,
        cast(csat_ratings as integer) as csat_ratings,
        cast(health_score as integer) as health_score,

        -- booleans
        completed_orders > 1 as is_repeat_customer,
        checked_in_since_last_order,
        last_journey_went_badly,
        last_journey_went_badly and not checked_in_since_last_order as is_at_risk,

        -- timestamps
        first_order_at,
        last_order_at,
        last_check_in_at,
        first_seen_at,
        last_seen_at,
        {{ run_timestamp() }} as built_at

    from scored

)

select * from final
