-- OLTP reference data: the tables the generators seed and CDC captures.
create table if not exists item_categories (
    category_id   integer primary key,
    name          text not null unique,
    updated_at    timestamptz not null default now()
);

create table if not exists stores (
    store_id      integer primary key,
    name          text not null,
    address       text not null,
    city          text not null,
    state         char(2) not null,
    postal_code   text not null,
    latitude      numeric(9, 6) not null,
    longitude     numeric(9, 6) not null,
    timezone      text not null,          -- IANA zone, e.g. America/Chicago
    checkstands   smallint not null default 10,
    opened_on     date not null,
    updated_at    timestamptz not null default now()
);

create table if not exists item_master (
    item_id       integer primary key,
    upc           text not null unique,
    name          text not null,
    category_id   integer not null references item_categories (category_id),
    unit_price    numeric(10, 2) not null check (unit_price > 0),
    frequency     double precision not null check (frequency > 0),  -- relative sales weight
    updated_at    timestamptz not null default now()
);

create table if not exists customers (
    customer_id   integer primary key,
    name          text not null,
    email         text not null,
    tier          text not null check (tier in ('regular', 'silver', 'gold', 'diamond')),
    updated_at    timestamptz not null default now()
);

create table if not exists payment_methods (
    payment_method_id integer primary key,
    method        text not null check (method in ('cash', 'credit_card', 'e_wallet', 'bank_transfer')),
    bank          text,                   -- set for bank_transfer only (e.g. 'ACB')
    name          text not null,
    updated_at    timestamptz not null default now()
);

-- Debezium needs the old row on updates and deletes.
alter table item_categories replica identity full;
alter table stores replica identity full;
alter table item_master replica identity full;
alter table customers replica identity full;
alter table payment_methods replica identity full;
