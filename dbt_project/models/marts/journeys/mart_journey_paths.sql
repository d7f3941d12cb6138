{#- One row per journey path (the departments a journey passed through, in order, each hand-off
    a step), ranked by how many journeys took it, with the share of each outcome. -#}
with

journeys as (

    select journey_path, outcome from {{ ref('fct_order_journeys') }}

),

paths as (

    select
        journey_path,
        count(*) as journeys,
        {% for outcome in journey_outcomes() %}
        avg(case when outcome = '{{ outcome }}' then 1.0 else 0.0 end) as {{ outcome }}_share{{ "," if not loop.last }}
        {% endfor %}
    from journeys
    group by journey_path

),

final as (

    select
        cast(row_number() over (order by journeys desc, {{ bytewise('journey_path') }}) as integer) as path_rank,
        journey_path,
        cast(journeys as integer) as journeys,
        cast(journeys * 1.0 / sum(journeys) over () as numeric(10, 4)) as share_of_journeys,
        {% for outcome in journey_outcomes() %}
        cast({{ outcome }}_share as numeric(10, 4)) as {{ outcome }}_share{{ "," if not loop.last }}
        {% endfor %}
    from paths

)

select * from final
