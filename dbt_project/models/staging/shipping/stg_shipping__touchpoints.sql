{#- One row per shipping touchpoint, attributes typed, identifiers hashed. Append-only. An
    attribute that is not of its type is null, named in `untyped_attributes`. -#}
{%- set typed = {'damaged': 'boolean'} -%}
-- read only by new_raw_touchpoints on incremental runs: named here for lineage
-- depends_on: {{ source('raw', 'quarantine') }}
-- depends_on: {{ source('raw', 'event_corrections') }}
with

source as (

    {{ new_raw_touchpoints('shipping') }}

),

renamed as (

    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        nullif(trim(customer_id), '') as customer_id,
        {{ pii_hash(normalise_email('email')) }} as email_hash,
        {{ pii_hash(normalise_phone('phone')) }} as phone_hash,
        nullif(trim(order_id), '') as order_id,
        {{ json_text('attributes', 'tracking_id') }} as tracking_id,

        -- strings
        event_type,
        department,
        {{ dbt.split_part('event_type', "'.'", 2) }} as action,
        source as source_system,
        {{ json_text('attributes', 'carrier') }} as carrier,
        {{ json_text('attributes', 'warehouse') }} as warehouse,
        {{ json_text('attributes', 'outcome') }} as attempt_outcome,
        {{ json_text('attributes', 'location') }} as delivery_location,
        {{ json_text('attributes', 'reason') }} as return_reason,
        {{ json_text('attributes', 'channel') }} as channel,

        -- booleans
        {{ try_cast(json_text('attributes', 'damaged'), typed['damaged']) }} as is_damaged,
        {{ untyped_attributes('attributes', typed) }} as untyped_attributes,

        -- timestamps
        {{ to_utc('occurred_at') }} as occurred_at,
        {{ to_utc('loaded_at') }} as loaded_at,
        {{ run_timestamp() }} as staged_at,

        -- lineage: where the loader read the event
        topic,
        kafka_partition,
        kafka_offset

    from source

)

select * from renamed
