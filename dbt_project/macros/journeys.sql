{#- Journey rules, each written once; docs/metrics.md states them. -#}

{#- The first business day on which time alone can end a journey's `in_progress`: the end of the
    settle window after delivery (var journeys__settle_days), or, for an undelivered journey, its
    overdue line: var journeys__overdue_days after the promised date, or, with no promise known,
    the settle window after its last touchpoint. Null once cancelled. An undelivered journey on or
    past that day is overdue. -#}
{% macro settles_on(promised_date, delivered_at, cancelled_at, last_touchpoint_at) -%}
    case
        when {{ cancelled_at }} is not null then null
        when {{ delivered_at }} is not null
            then cast({{ dbt.dateadd('day', (var('journeys__settle_days') | int) + 1, business_date(delivered_at)) }} as date)
        when {{ promised_date }} is not null
            then cast({{ dbt.dateadd('day', (var('journeys__overdue_days') | int) + 1, promised_date) }} as date)
        else cast({{ dbt.dateadd('day', (var('journeys__settle_days') | int) + 1, business_date(last_touchpoint_at)) }} as date)
    end
{%- endmacro %}

{#- Every journey outcome, in the order the marts list their shares. -#}
{% macro journey_outcomes() -%}
    {{ return(['smooth', 'recovered', 'lost', 'silent', 'unresolved', 'cancelled', 'in_progress']) }}
{%- endmacro %}
