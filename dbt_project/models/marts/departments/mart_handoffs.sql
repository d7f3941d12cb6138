{#- One row per hand-off direction (from department -> to department): how often journeys pass
    from one department to the next, and how long the next one took (p50, p90). -#}
with

handoffs as (

    select previous_department, department, order_id, handoff_seconds
    from {{ ref('fct_touchpoints') }}
    where is_handoff

),

final as (

    select
        previous_department as from_department,
        department as to_department,
        cast(count(*) as integer) as handoffs,
        cast(count(distinct order_id) as integer) as journeys,
        cast({{ percentile('handoff_seconds', 0.5) }} / 3600.0 as numeric(12, 2)) as p50_latency_hours,
        cast({{ percentile('handoff_seconds', 0.9) }} / 3600.0 as numeric(12, 2)) as p90_latency_hours,
        cast(avg(handoff_seconds) / 3600.0 as numeric(12, 2)) as mean_latency_hours
    from handoffs
    group by previous_department, department

)

select * from final
