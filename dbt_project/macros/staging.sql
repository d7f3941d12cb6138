{#- The raw events of one department that staging has not seen yet (all of them on a full
    refresh). Exact: the loader commits each partition's offsets in order, each range once,
    together with its rows (compare-and-set), so "past the last staged offset" is "new". -#}
{% macro new_raw_touchpoints(department) %}
    select touchpoints.*
    from {{ source('raw', 'touchpoints') }} as touchpoints
    {% if is_incremental() %}
    left join (
        select topic, kafka_partition, max(kafka_offset) as staged_offset
        from {{ this }}
        group by topic, kafka_partition
    ) as staged
        on staged.topic = touchpoints.topic
        and staged.kafka_partition = touchpoints.kafka_partition
    {% endif %}
    where touchpoints.department = '{{ department }}'
    {% if is_incremental() %}
        and (staged.staged_offset is null or touchpoints.kafka_offset > staged.staged_offset)
    {% endif %}
{% endmacro %}
