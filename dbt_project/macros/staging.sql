{#- The raw events of one department that staging has not seen yet (all of them on a full
    refresh). Exact: the loader commits each partition's offsets in order, each range once,
    together with its rows (compare-and-set), so "past the last staged offset" is "new". -#}
{% macro new_raw_touchpoints(department) %}
    select touchpoints.*
    from {{ source('raw', 'touchpoints') }} as touchpoints
    where touchpoints.department = '{{ department }}'
    {% if is_incremental() %}
        and {{ past_staged_offsets(this) }}
    {% endif %}
{% endmacro %}

{#- Past the last offset `relation` has staged, per topic partition, read when the model runs
    and written as constants: the scan filters raw rows without joining staging to them. -#}
{% macro past_staged_offsets(relation) -%}
    {%- set staged = none -%}
    {%- if execute -%}
        {%- set staged = run_query(
            "select topic, kafka_partition, max(kafka_offset) from " ~ relation
            ~ " group by topic, kafka_partition order by topic, kafka_partition"
        ) -%}
    {%- endif -%}
    {%- if staged is none or staged.rows | length == 0 -%}
        true
    {%- else -%}
        case
        {%- for topic, kafka_partition, staged_offset in staged.rows %}
            when touchpoints.topic = '{{ topic }}' and touchpoints.kafka_partition = {{ kafka_partition }}
                then touchpoints.kafka_offset > {{ staged_offset }}
        {%- endfor %}
            else true
        end
    {%- endif -%}
{%- endmacro %}
