{#- One row per touchpoint of any department, in one shape, with the identifier that anchors it
    in the identity graph. -#}
with

sales as (

    select
        event_id, event_type, department, action, source_system,
        customer_id, email_hash, phone_hash, order_id,
        cast(null as {{ dbt.type_string() }}) as ticket_id,
        channel, amount, currency, items, promised_delivery_date,
        cast(null as boolean) as is_damaged,
        cast(null as {{ dbt.type_string() }}) as attempt_outcome,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ dbt.type_string() }}) as to_department,
        cast(null as integer) as csat_score,
        reason,
        occurred_at, loaded_at, staged_at
    from {{ ref('stg_sales__touchpoints') }}

),

shipping as (

    select
        event_id, event_type, department, action, source_system,
        customer_id, email_hash, phone_hash, order_id,
        cast(null as {{ dbt.type_string() }}) as ticket_id,
        channel,
        cast(null as numeric(12, 2)) as amount,
        cast(null as {{ dbt.type_string() }}) as currency,
        cast(null as integer) as items,
        cast(null as date) as promised_delivery_date,
        is_damaged, attempt_outcome,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ dbt.type_string() }}) as to_department,
        cast(null as integer) as csat_score,
        return_reason as reason,
        occurred_at, loaded_at, staged_at
    from {{ ref('stg_shipping__touchpoints') }}

),

support as (

    select
        event_id, event_type, department, action, source_system,
        customer_id, email_hash, phone_hash, order_id, ticket_id,
        channel,
        cast(null as numeric(12, 2)) as amount,
        cast(null as {{ dbt.type_string() }}) as currency,
        cast(null as integer) as items,
        cast(null as date) as promised_delivery_date,
        cast(null as boolean) as is_damaged,
        cast(null as {{ dbt.type_string() }}) as attempt_outcome,
        category, to_department, csat_score,
        cast(null as {{ dbt.type_string() }}) as reason,
        occurred_at, loaded_at, staged_at
    from {{ ref('stg_support__touchpoints') }}

),

unioned as (

    select * from sales
    union all
    select * from shipping
    union all
    select * from support

)

select
    *,
    -- The event's node in the identity graph: its customer id, else email, else phone hash; when
    -- none is usable (a phone with no digit), its order, its ticket, or else the event itself, so
    -- that no event is left without a customer. Prefixes order node kinds, so a component's
    -- smallest node is a customer id when it has one.
    coalesce(
        '1:' || customer_id, '2:' || email_hash, '3:' || phone_hash,
        '4:' || order_id, '5:' || ticket_id, '6:' || event_id
    ) as identity_node
from unioned
