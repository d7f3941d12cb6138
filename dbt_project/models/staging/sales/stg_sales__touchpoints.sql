{#- One row per sales touchpoint, attributes typed, identifiers hashed. Append-only: an event is
    parsed once, whenever it arrives. An attribute that is not of its type is null here, named in
    `untyped_attributes` (and fct_untyped_attributes), instead of failing the build. -#}
{%- set typed = {'amount': 'numeric(12, 2)', 'items': 'integer', 'promised_delivery_date': 'date'} -%}
-- read only by new_raw_touchpoints on incremental runs: named here for lineage
-- depends_on: {{ source('raw', 'quarantine') }}
-- depends_on: {{ source('raw', 'event_corrections') }}
with

source as (

    {{ new_raw_touchpoints('sales') }}

),

renamed as (

    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        nullif(trim(customer_id), '') as customer_id,
        {{ pii_hash(normalise_email('email')) }} as email_hash,
        {{ pii_hash(normalise_phone('phone')) }} as phone_hash,
        nullif(trim(order_id), '') as order_id,

        -- strings
        event_type,
        department,
        {{ dbt.split_part('event_type', "'.'", 2) }} as action,
        source as source_system,
        {{ json_text('attributes', 'channel') }} as channel,
        {{ json_text('attributes', 'currency') }} as currency,
        {{ json_text('attributes', 'reason') }} as reason,
        {{ json_text('attributes', 'coupon') }} as coupon_code,
        {{ json_text('attributes', 'service') }} as service_level,

        -- numerics
        {{ try_cast(json_text('attributes', 'amount'), typed['amount']) }} as amount,
        {{ try_cast(json_text('attributes', 'items'), typed['items']) }} as items,
        {{ untyped_attributes('attributes', typed) }} as untyped_attributes,

        -- dates and timestamps
        {{ try_cast(json_text('attributes', 'promised_delivery_date'), typed['promised_delivery_date']) }}
            as promised_delivery_date,
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
