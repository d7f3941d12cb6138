{#- Rules of DESIGN section 5 used by more than one model. -#}

{#- Undelivered var journeys__overdue_days days after the promised date, at date `as_of`
    (a SQL date expression; models pass the as-of date of the run). -#}
{% macro is_overdue(promised_date, delivered_at, cancelled_at, as_of) -%}
    coalesce(
        {{ cancelled_at }} is null
        and {{ delivered_at }} is null
        and {{ promised_date }} is not null
        and {{ dbt.datediff(promised_date, as_of, 'day') }} > {{ var('journeys__overdue_days') | int }},
        false
    )
{%- endmacro %}
