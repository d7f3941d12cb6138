{#- Journey rules used by more than one model; docs/metrics.md states each of them. -#}

{#- Undelivered and not cancelled, and either var journeys__overdue_days past the promised date,
    or, with no promise known, var journeys__settle_days past the journey's last touchpoint (on
    the business's calendar), at date `as_of` (the as-of date of the run). -#}
{% macro is_overdue(promised_date, delivered_at, cancelled_at, last_touchpoint_at, as_of) -%}
    coalesce(
        {{ cancelled_at }} is null
        and {{ delivered_at }} is null
        and case
            when {{ promised_date }} is not null
                then {{ dbt.datediff(promised_date, as_of, 'day') }} > {{ var('journeys__overdue_days') | int }}
            else {{ dbt.datediff(business_date(last_touchpoint_at), as_of, 'day') }} > {{ var('journeys__settle_days') | int }}
        end,
        false
    )
{%- endmacro %}

{#- The first business day on which time alone can end a journey's `in_progress`: the end of the
    settle window after delivery, or of the overdue line (or, without a promise, of the settle
    window after the last touchpoint) for an undelivered journey. Null once cancelled. -#}
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
