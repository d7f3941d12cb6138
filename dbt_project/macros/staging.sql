{#- The raw events of one department that staging has not seen yet (all of them on a full
    refresh). Exact: the loader commits each partition's offsets in order, each range once,
    together with its rows (compare-and-set), so "past the last staged offset" is "new". The one
    exceptions are `journeys quarantine replay`, which loads a record later, at the offset where
    the loader first refused it, and `journeys events correct`, which changes a loaded event in
    place: such events are added by id. -#}
{% macro new_raw_touchpoints(department) %}
    select touchpoints.*
    from {{ source('raw', 'touchpoints') }} as touchpoints
    where touchpoints.department = '{{ department }}'
    {% if is_incremental() %}
        {%- set past_staged = past_staged_offsets(this) %}
        and {{ past_staged }}
        {%- set replayed_since = recently_replayed(this) %}
        {%- if replayed_since is not none %}
    union all
    select touchpoints.*
    from {{ source('raw', 'touchpoints') }} as touchpoints
    where touchpoints.department = '{{ department }}'
        and not ({{ past_staged }})
        and touchpoints.event_id in (
            -- driven from the few replayed ids, so PostgreSQL looks them up by raw's primary key
            select cast(replayed.replayed_event_id as uuid)
            from {{ source('raw', 'quarantine') }} as replayed
            where replayed.replayed_event_id is not null
                and replayed.replayed_at >= {{ replayed_since }}
                and not exists (
                    select 1 from {{ this }} as staged where staged.event_id = replayed.replayed_event_id
                )
        )
        {%- endif %}
        {%- set corrected_since = corrections_since(this, 'staged_at') %}
        {%- if corrected_since is not none %}
    -- union, not union all: a corrected event may also have been replayed above
    union
    -- events corrected since they were staged (journeys_unstage_corrected dropped the old copies)
    select touchpoints.*
    from {{ source('raw', 'touchpoints') }} as touchpoints
    where touchpoints.department = '{{ department }}'
        and not ({{ past_staged }})
        and cast(touchpoints.event_id as {{ dbt.type_string() }}) in ({{ corrected_event_ids(corrected_since) }})
        {%- endif %}
    {% endif %}
{% endmacro %}

{#- The time from which replays may hold events `relation` has not staged, as SQL, or none when
    no record was replayed since then. A day before its last staging: a replay stamps the time it
    started, so one that committed after a staging run began can carry an earlier time. Older
    warehouses without the replay columns have nothing replayed. -#}
{% macro recently_replayed(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set quarantine = source('raw', 'quarantine') -%}
    {%- set columns = adapter.get_columns_in_relation(quarantine) | map(attribute='name') | list -%}
    {%- if 'replayed_at' not in columns -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set since = dbt.dateadd('day', -1, '(select max(staged_at) from ' ~ relation ~ ')') -%}
    {%- set found = run_query(
        "select 1 from " ~ quarantine ~ " where replayed_at >= " ~ since ~ " limit 1"
    ) -%}
    {{ return(since if found.rows | length > 0 else none) }}
{%- endmacro %}

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
