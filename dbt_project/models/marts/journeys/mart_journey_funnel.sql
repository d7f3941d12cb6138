{#- One row per journey stage (placed, paid, shipped, delivered): how many orders reached it, the
    share of placed orders that did, and the time from placing the order to the stage (p50, p90).
    Stage times are first occurrences. Orders whose order_placed event has not arrived are left out,
    and journeys with an impossible sequence (a stage before the one it follows) are counted but
    left out of the times; `timed_orders` says how many orders the percentiles were taken over. -#}
with

journeys as (

    select * from {{ ref('fct_order_journeys') }}
    where placed_at is not null

),

stages as (

    select 1 as stage_number, 'placed' as stage, order_id, placed_at as reached_at, placed_at, has_impossible_sequence
    from journeys
    union all
    select 2, 'paid', order_id, paid_at, placed_at, has_impossible_sequence from journeys
    union all
    select 3, 'shipped', order_id, shipped_at, placed_at, has_impossible_sequence from journeys
    union all
    select 4, 'delivered', order_id, delivered_at, placed_at, has_impossible_sequence from journeys

),

timed as (

    select
        stage_number,
        stage,
        reached_at,
        case when not has_impossible_sequence then
            {{ dbt.datediff('placed_at', 'reached_at', 'second') }} / 3600.0
        end as hours_from_placed
    from stages

),

final as (

    select
        cast(stage_number as integer) as stage_number,
        stage,
        cast(count(reached_at) as integer) as orders,
        cast(count(reached_at) * 1.0 / count(*) as numeric(10, 4)) as share_of_placed,
        cast(count(hours_from_placed) as integer) as timed_orders,
        cast({{ percentile('hours_from_placed', 0.5) }} as numeric(12, 2)) as p50_hours_from_placed,
        cast({{ percentile('hours_from_placed', 0.9) }} as numeric(12, 2)) as p90_hours_from_placed
    from timed
    group by stage_number, stage

)

select * from final
