{#- One row per department and ISO week: touchpoints, orders and customers touched, problems the
    department owned, problem rate, support's median first response and resolution, and the CSAT
    and smooth share of the journeys the department touched that week, with how many rows each
    mean or median was taken over. Weeks are ISO weeks on the business's calendar. -#}
with

touchpoints as (

    select
        department,
        {{ business_period_start('week', 'occurred_at') }} as week_start,
        order_id,
        customer_key
    from {{ ref('fct_touchpoints') }}

),

-- Distinct counts as counts of grouped rows, which PostgreSQL hashes; count(distinct ...) makes
-- it sort every department-week's rows.
customer_weeks as (

    select department, week_start, customer_key, count(*) as touchpoints
    from touchpoints
    group by department, week_start, customer_key

),

touched_orders as (

    select distinct department, week_start, order_id from touchpoints where order_id is not null

),

activity as (

    select
        customers.department,
        customers.week_start,
        customers.touchpoints,
        orders.orders_touched,
        customers.customers_touched
    from (
        select department, week_start, sum(touchpoints) as touchpoints, count(*) as customers_touched
        from customer_weeks
        group by department, week_start
    ) as customers
    left join (
        select department, week_start, count(*) as orders_touched
        from touched_orders
        group by department, week_start
    ) as orders
        on orders.department = customers.department and orders.week_start = customers.week_start

),

journey_quality as (

    select
        touched.department,
        touched.week_start,
        avg(journeys.csat_score) as mean_csat,
        count(journeys.csat_score) as rated_journeys,
        avg(case when journeys.outcome = 'smooth' then 1.0 else 0.0 end) as smooth_share,
        sum(case when journeys.has_impossible_sequence then 1 else 0 end) as impossible_sequences
    from touched_orders as touched
    inner join {{ ref('fct_order_journeys') }} as journeys
        on journeys.order_id = touched.order_id
    group by touched.department, touched.week_start

),

tickets as (

    select
        owner_department,
        {{ business_period_start('week', 'opened_at') }} as week_start,
        first_response_seconds,
        resolution_seconds
    from {{ ref('fct_tickets') }}

),

problems as (

    -- Owned problems: tickets by owner; late (or overdue) and damaged deliveries for shipping,
    -- in the week of delivery (of the promised date when undelivered); cancellations for sales.
    select owner_department as department, week_start, 1 as problems
    from tickets

    union all

    select
        'shipping',
        -- the week of the delivery; undelivered, of the promised date (already a business date),
        -- or without a promise, of the last touchpoint
        coalesce(
            {{ business_period_start('week', 'delivered_at') }},
            cast({{ dbt.date_trunc('week', 'promised_delivery_date') }} as date),
            {{ business_period_start('week', 'last_touchpoint_at') }}
        ),
        case when is_delivered_late or is_overdue then 1 else 0 end + case when is_damaged then 1 else 0 end
    from {{ ref('fct_order_journeys') }}
    where is_delivered_late or is_overdue or is_damaged

    union all

    select 'sales', {{ business_period_start('week', 'cancelled_at') }}, 1
    from {{ ref('fct_order_journeys') }}
    where is_cancelled

),

problems_owned as (

    select department, week_start, sum(problems) as problems_owned
    from problems
    group by department, week_start

),

support_times as (

    select
        'support' as department,
        week_start,
        {{ percentile('first_response_seconds', 0.5) }} / 3600.0 as median_first_response_hours,
        {{ percentile('resolution_seconds', 0.5) }} / 3600.0 as median_resolution_hours,
        count(first_response_seconds) as replied_tickets,
        count(resolution_seconds) as resolved_tickets
    from tickets
    group by week_start

),

spine as (

    select department, week_start from activity
    union
    select department, week_start from problems_owned

),

final as (

    select
        spine.department,
        spine.week_start,
        cast(coalesce(activity.touchpoints, 0) as integer) as touchpoints,
        cast(coalesce(activity.orders_touched, 0) as integer) as orders_touched,
        cast(coalesce(activity.customers_touched, 0) as integer) as customers_touched,
        cast(coalesce(problems_owned.problems_owned, 0) as integer) as problems_owned,
        cast(
            case when coalesce(activity.orders_touched, 0) > 0
                then coalesce(problems_owned.problems_owned, 0) * 1.0 / activity.orders_touched
            end as numeric(10, 4)
        ) as problem_rate,
        cast(support_times.median_first_response_hours as numeric(10, 2)) as median_first_response_hours,
        cast(support_times.median_resolution_hours as numeric(10, 2)) as median_resolution_hours,
        cast(support_times.replied_tickets as integer) as replied_tickets,
        cast(support_times.resolved_tickets as integer) as resolved_tickets,
        cast(journey_quality.mean_csat as numeric(4, 2)) as mean_csat,
        cast(coalesce(journey_quality.rated_journeys, 0) as integer) as rated_journeys,
        cast(journey_quality.smooth_share as numeric(10, 4)) as smooth_share,
        cast(coalesce(journey_quality.impossible_sequences, 0) as integer) as impossible_sequences
    from spine
    left join activity
        on activity.department = spine.department and activity.week_start = spine.week_start
    left join problems_owned
        on problems_owned.department = spine.department and problems_owned.week_start = spine.week_start
    left join support_times
        on support_times.department = spine.department and support_times.week_start = spine.week_start
    left join journey_quality
        on journey_quality.department = spine.department and journey_quality.week_start = spine.week_start

)

select * from final
