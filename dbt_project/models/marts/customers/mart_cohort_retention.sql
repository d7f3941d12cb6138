{#- One row per first-order month (cohort) and month since the first order: how many of the
    cohort's customers ordered again that month (repeat-purchase retention). Cancelled orders are
    not purchases. Months are on the business's calendar and run up to the month of the latest
    order in the data. -#}
{%- set months = var('journeys__retention_months') | int -%}
with

orders as (

    select customer_key, {{ business_period_start('month', 'placed_at') }} as order_month
    from {{ ref('fct_order_journeys') }}
    where placed_at is not null and not is_cancelled

),

cohorts as (

    select customer_key, min(order_month) as cohort_month
    from orders
    group by customer_key

),

cohort_sizes as (

    select cohort_month, count(*) as cohort_customers
    from cohorts
    group by cohort_month

),

activity as (

    select
        cohorts.cohort_month,
        {{ dbt.datediff('cohorts.cohort_month', 'orders.order_month', 'month') }} as months_since_first_order,
        count(distinct orders.customer_key) as active_customers
    from orders
    inner join cohorts on cohorts.customer_key = orders.customer_key
    group by 1, 2

),

offsets as (

    select cast(generated_number - 1 as integer) as months_since_first_order
    from ({{ dbt.generate_series(months + 1) }}) as series

),

last_month as (

    select max(order_month) as last_order_month from orders

),

final as (

    select
        cohort_sizes.cohort_month,
        offsets.months_since_first_order,
        cast(cohort_sizes.cohort_customers as integer) as cohort_customers,
        cast(coalesce(activity.active_customers, 0) as integer) as active_customers,
        cast(coalesce(activity.active_customers, 0) * 1.0 / cohort_sizes.cohort_customers as numeric(10, 4))
            as retention_rate
    from cohort_sizes
    cross join offsets
    cross join last_month
    left join activity
        on activity.cohort_month = cohort_sizes.cohort_month
        and activity.months_since_first_order = offsets.months_since_first_order
    where {{ dbt.datediff('cohort_sizes.cohort_month', 'last_month.last_order_month', 'month') }}
        >= offsets.months_since_first_order

)

select * from final
