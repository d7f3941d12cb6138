{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ journeys_empty_when_corrected('linked_at') }}"
    )
}}
{#- One row per pair of identifiers seen on one touchpoint: the edges of the identity graph.
    Each touchpoint links its anchor node (customer id, else email, else phone) to every
    identifier it carries: customer id, email hash, phone hash, order id and ticket id.
    Append-only: a run adds the edges of the rows staged since the last run that added an edge
    (a run whose new rows bring no new edge leaves them to be looked at again next time). -#}
with

touchpoints as (

    select identity_node, customer_id, email_hash, phone_hash, order_id, ticket_id
    from {{ ref('int_touchpoints_unioned') }}
    {% if journeys_incremental('linked_at') %}
    where staged_at > {{ watermark(this, 'linked_at') }}
    {% endif %}

),

links as (

    select identity_node, '1:' || customer_id as linked_node from touchpoints where customer_id is not null
    union all
    select identity_node, '2:' || email_hash from touchpoints where email_hash is not null
    union all
    select identity_node, '3:' || phone_hash from touchpoints where phone_hash is not null
    union all
    select identity_node, '4:' || order_id from touchpoints where order_id is not null
    union all
    select identity_node, '5:' || ticket_id from touchpoints where ticket_id is not null
    union all
    -- an event that is its own anchor (nothing identifies its customer) is a node of its own
    select identity_node, identity_node from touchpoints where identity_node like '6:%'

),

distinct_links as (

    select distinct identity_node as identifier, linked_node as linked_identifier
    from links

)

select
    distinct_links.identifier,
    distinct_links.linked_identifier,
    {{ run_timestamp() }} as linked_at
from distinct_links
{% if journeys_incremental('linked_at') %}
where not exists (
    select 1 from {{ this }} as known
    where known.identifier = distinct_links.identifier
        and known.linked_identifier = distinct_links.linked_identifier
)
{% endif %}
