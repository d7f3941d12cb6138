{#- Generic test: no two rows share the same values of `columns` (dbt_utils is not available). -#}
{% test journeys_unique_combination(model, columns) -%}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endtest %}
