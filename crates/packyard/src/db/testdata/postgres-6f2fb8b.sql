-- A PostgreSQL database as packyard 6f2fb8b (schema steps 1 to 13) left it: the same
-- steps through that version's CLI and server as sqlite-6f2fb8b.sql (see there), then
-- pg_dump --inserts --no-owner --no-privileges --no-comments (its \restrict lines
-- removed). Loaded by
-- db::tests::a_postgres_database_written_by_an_earlier_version_opens_and_reads_back.
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: catalogue_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.catalogue_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: access_stamp; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_stamp (
    id bigint NOT NULL,
    changed_at bigint NOT NULL,
    CONSTRAINT access_stamp_id_check CHECK ((id = 1))
);


--
-- Name: advisories; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.advisories (
    id bigint NOT NULL,
    advisory_id text NOT NULL,
    package_id bigint NOT NULL,
    affected_versions text NOT NULL,
    title text NOT NULL,
    cve text,
    link text,
    severity text,
    reported_at bigint NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: advisories_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.advisories_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: advisories_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.advisories_id_seq OWNED BY public.advisories.id;


--
-- Name: api_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_tokens (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    token_hash text NOT NULL,
    created_at bigint NOT NULL,
    name text DEFAULT 'default'::text NOT NULL,
    scopes text,
    expires_at bigint,
    last_used_at bigint,
    last_used_from text
);


--
-- Name: api_tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.api_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: api_tokens_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.api_tokens_id_seq OWNED BY public.api_tokens.id;


--
-- Name: catalogue_stamp; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.catalogue_stamp (
    id bigint NOT NULL,
    version bigint NOT NULL,
    last_stamp bigint DEFAULT 0 NOT NULL,
    CONSTRAINT catalogue_stamp_id_check CHECK ((id = 1))
);


--
-- Name: download_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.download_counts (
    package_id bigint NOT NULL,
    version text NOT NULL,
    count bigint NOT NULL
);


--
-- Name: download_days; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.download_days (
    package_id bigint NOT NULL,
    version text NOT NULL,
    day bigint NOT NULL,
    count bigint NOT NULL
);


--
-- Name: group_grants; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.group_grants (
    group_id bigint NOT NULL,
    package text NOT NULL,
    versions text
);


--
-- Name: group_members; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.group_members (
    group_id bigint NOT NULL,
    user_id bigint NOT NULL
);


--
-- Name: groups; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.groups (
    id bigint NOT NULL,
    name text NOT NULL,
    updates_until bigint,
    mirrors text DEFAULT '[]'::text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: groups_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.groups_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: groups_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.groups_id_seq OWNED BY public.groups.id;


--
-- Name: jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.jobs (
    id bigint NOT NULL,
    kind text NOT NULL,
    payload text NOT NULL,
    state text NOT NULL,
    dedupe_key text,
    attempts bigint DEFAULT 0 NOT NULL,
    max_attempts bigint NOT NULL,
    run_after bigint NOT NULL,
    lease_until bigint,
    worker text,
    result text,
    error text,
    created_at bigint NOT NULL,
    started_at bigint,
    finished_at bigint,
    CONSTRAINT jobs_state_check CHECK ((state = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text])))
);


--
-- Name: jobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: jobs_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.jobs_id_seq OWNED BY public.jobs.id;


--
-- Name: login_failures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.login_failures (
    subject text NOT NULL,
    failed_at bigint NOT NULL,
    attempt text
);


--
-- Name: mirror_approvals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mirror_approvals (
    alias text NOT NULL,
    package text NOT NULL,
    approved_at bigint NOT NULL
);


--
-- Name: mirror_download_days; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mirror_download_days (
    alias text NOT NULL,
    package text NOT NULL,
    version text NOT NULL,
    day bigint NOT NULL,
    count bigint NOT NULL
);


--
-- Name: package_readmes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.package_readmes (
    package_id bigint NOT NULL,
    version_normalized text NOT NULL,
    content text NOT NULL
);


--
-- Name: packages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.packages (
    id bigint NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    repository_url text,
    repository_key text,
    credentials text,
    webhook_secret text,
    scan_fingerprint text,
    scanned_at bigint,
    scan_error text,
    scan_report text,
    public bigint DEFAULT 0 NOT NULL
);


--
-- Name: packages_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.packages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: packages_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.packages_id_seq OWNED BY public.packages.id;


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version bigint NOT NULL,
    applied_at bigint NOT NULL
);


--
-- Name: sealed_values_bound; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sealed_values_bound (
    id bigint NOT NULL,
    bound_at bigint NOT NULL
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id bigint NOT NULL,
    name text NOT NULL,
    is_admin bigint DEFAULT 0 NOT NULL,
    created_at bigint NOT NULL,
    is_maintainer bigint DEFAULT 0 NOT NULL,
    full_access bigint DEFAULT 0 NOT NULL,
    expires_at bigint,
    updates_until bigint,
    password_hash text
);


--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: users_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;


--
-- Name: versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.versions (
    id bigint NOT NULL,
    package_id bigint NOT NULL,
    version text NOT NULL,
    version_normalized text NOT NULL,
    reference text NOT NULL,
    shasum text NOT NULL,
    dist_store text NOT NULL,
    dist_key text NOT NULL,
    metadata text NOT NULL,
    released_at bigint NOT NULL,
    updated_at bigint NOT NULL
);


--
-- Name: versions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.versions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: versions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.versions_id_seq OWNED BY public.versions.id;


--
-- Name: web_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.web_sessions (
    secret_hash text NOT NULL,
    user_id bigint NOT NULL,
    csrf_token text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);


--
-- Name: webhook_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_attempts (
    id bigint NOT NULL,
    delivery_id bigint NOT NULL,
    started_at bigint NOT NULL,
    duration_ms bigint NOT NULL,
    status bigint,
    error text,
    response text
);


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_attempts_id_seq OWNED BY public.webhook_attempts.id;


--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    id bigint NOT NULL,
    delivery_id text NOT NULL,
    webhook_id bigint NOT NULL,
    event text NOT NULL,
    package text NOT NULL,
    payload text NOT NULL,
    created_at bigint NOT NULL,
    delivered_at bigint
);


--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhook_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhook_deliveries_id_seq OWNED BY public.webhook_deliveries.id;


--
-- Name: webhooks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhooks (
    id bigint NOT NULL,
    name text NOT NULL,
    url text NOT NULL,
    events text NOT NULL,
    package_pattern text,
    secret text NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: webhooks_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.webhooks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: webhooks_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.webhooks_id_seq OWNED BY public.webhooks.id;


--
-- Name: advisories id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.advisories ALTER COLUMN id SET DEFAULT nextval('public.advisories_id_seq'::regclass);


--
-- Name: api_tokens id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens ALTER COLUMN id SET DEFAULT nextval('public.api_tokens_id_seq'::regclass);


--
-- Name: groups id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.groups ALTER COLUMN id SET DEFAULT nextval('public.groups_id_seq'::regclass);


--
-- Name: jobs id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs ALTER COLUMN id SET DEFAULT nextval('public.jobs_id_seq'::regclass);


--
-- Name: packages id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.packages ALTER COLUMN id SET DEFAULT nextval('public.packages_id_seq'::regclass);


--
-- Name: users id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);


--
-- Name: versions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.versions ALTER COLUMN id SET DEFAULT nextval('public.versions_id_seq'::regclass);


--
-- Name: webhook_attempts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts ALTER COLUMN id SET DEFAULT nextval('public.webhook_attempts_id_seq'::regclass);


--
-- Name: webhook_deliveries id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries ALTER COLUMN id SET DEFAULT nextval('public.webhook_deliveries_id_seq'::regclass);


--
-- Name: webhooks id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks ALTER COLUMN id SET DEFAULT nextval('public.webhooks_id_seq'::regclass);


--
-- Data for Name: access_stamp; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_stamp VALUES (1, 1796614401000);


--
-- Data for Name: advisories; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.advisories VALUES (1, 'PKYSA-0241-ac10-145c', 1, '<1.3', 'Remote code', 'CVE-2024-0001', 'https://example.com/a', 'high', 1704153600000, 1796614394457);
INSERT INTO public.advisories VALUES (2, 'PKYSA-9f45-eaf9-480c', 1, '<1.0', 'Second', NULL, NULL, NULL, 1796614401074, 1796614401074);


--
-- Data for Name: api_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.api_tokens VALUES (1, 1, 'edf6dfa16009677a2371de0ebbd03e3f071d4a1242919e307fe6ff7f4fa91632', 1796614379002, 'default', NULL, NULL, NULL, NULL);
INSERT INTO public.api_tokens VALUES (2, 2, '14b574df5848838cfe30da7531ec4351b863dc95d13eb66b821d07ce66ae150b', 1796614379702, 'default', NULL, NULL, NULL, NULL);
INSERT INTO public.api_tokens VALUES (3, 3, '41f1d5dd9712731dce6e908e0da80858de6d55c638cffa3ba6fbac8a0c2a976f', 1796614380427, 'default', NULL, NULL, NULL, NULL);
INSERT INTO public.api_tokens VALUES (4, 4, 'a98528227723a13c889dcc358600ea00d3483fcc74e1bcd9b27e06f317b31bfc', 1796614382095, 'default', NULL, NULL, NULL, NULL);
INSERT INTO public.api_tokens VALUES (5, 3, '0e66c315e40c0f112c4a3d0607de0c826414d94150a3e3b665dfd0f908f0bb2a', 1796614388862, 'deploy', '["metadata"]', 1828150388854, NULL, NULL);
INSERT INTO public.api_tokens VALUES (6, 4, '88d9d4763be787948fa8d5fbe0f807d391c243d1164599aaeefb1d08d3fa8539', 1796614389707, 'ci', NULL, NULL, NULL, NULL);
INSERT INTO public.api_tokens VALUES (7, 5, '10c8d3a4da9a49db3e5b6d2e1f9b5bf0191091f66077ee6374ca3ac0e1eb4b76', 1796614397120, 'default', NULL, NULL, 1796614398408, '127.0.0.1');


--
-- Data for Name: catalogue_stamp; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.catalogue_stamp VALUES (1, 7, 1796614401000);


--
-- Data for Name: download_counts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.download_counts VALUES (2, '1.0.0.0', 1);
INSERT INTO public.download_counts VALUES (1, '1.2.3.0', 1);


--
-- Data for Name: download_days; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.download_days VALUES (2, '1.0.0.0', 20794, 1);
INSERT INTO public.download_days VALUES (1, '1.2.3.0', 20794, 1);


--
-- Data for Name: group_grants; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.group_grants VALUES (1, 'acme/*', NULL);
INSERT INTO public.group_grants VALUES (1, 'acme/lib', '^1.0');


--
-- Data for Name: group_members; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.group_members VALUES (1, 3);
INSERT INTO public.group_members VALUES (1, 4);


--
-- Data for Name: groups; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.groups VALUES (1, 'customers', 1925078400000, '["packagist"]', 1796614383570);


--
-- Data for Name: jobs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.jobs VALUES (1, 'webhook_delivery', '{"delivery":1}', 'queued', 'webhook_delivery:1', 1, 6, 1796614411294, NULL, 'vm-13325-c0b24c48', NULL, 'could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)', 1796614401077, 1796614401284, NULL);


--
-- Data for Name: login_failures; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.login_failures VALUES ('user:root', 1796614398444, 'SeambxV6OepCpYOxLfB8bVW9WbkLs9lkiX7ywbAiX8A');
INSERT INTO public.login_failures VALUES ('address:127.0.0.1', 1796614398445, 'SeambxV6OepCpYOxLfB8bVW9WbkLs9lkiX7ywbAiX8A');


--
-- Data for Name: mirror_approvals; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.mirror_approvals VALUES ('packagist', 'acme/mirrored', 1796614395233);


--
-- Data for Name: mirror_download_days; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: package_readmes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.package_readmes VALUES (1, '1.2.3.0', '# lib

Uploaded.
');
INSERT INTO public.package_readmes VALUES (2, 'dev-main', '# gitlib

Hello.
x
');
INSERT INTO public.package_readmes VALUES (3, 'dev-main', '# gitlib

Hello.
x
');


--
-- Data for Name: packages; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.packages VALUES (2, 'acme/gitlib', 'vcs', 1796614391859, 1796614397000, 'file:///tmp/wt-db-old/work/repo', '/tmp/wt-db-old/work/repo', NULL, 'v3:AqECO41mje03CjhTQjr0/V41KASQRb9/AToY/+z3aNZkFWEiFKlaiZwwCD7jmq44NKI=', '8676a7ade8d41cb7a24cccd661b5c26d96390164894a303daeec5faf17cbc95b', 1796614391859, NULL, '{"skipped":[],"notices":[]}', 0);
INSERT INTO public.packages VALUES (3, 'acme/private', 'vcs', 1796614392919, 1796614398000, 'file:///tmp/wt-db-old/work/repo2', '/tmp/wt-db-old/work/repo2', 'v3:UPJhMVdw41Ocs3bKGKkimHhhRqvV4pUJAMOeCDwaMKNHjcmRqluOQmryaVHFlv0UsYhkPXXlMqWtLwvQTVpcfMTbzOlLeKJAF9E=', NULL, '4caca44df502e5699438d0d095f0ba86cc3c9983ece4a9c2535e7b1db799f4c8', 1796614392919, NULL, '{"skipped":[],"notices":[{"ref":"v1.0.0","reason":"composer.json names the package acme/gitlib; published as acme/private, the name on the default branch"},{"ref":"v1.1.0","reason":"composer.json names the package acme/gitlib; published as acme/private, the name on the default branch"}]}', 0);
INSERT INTO public.packages VALUES (1, 'acme/lib', 'artifact', 1796614390979, 1796614396000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1);


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (1, 1796614378080);
INSERT INTO public.schema_migrations VALUES (2, 1796614378082);
INSERT INTO public.schema_migrations VALUES (3, 1796614378084);
INSERT INTO public.schema_migrations VALUES (4, 1796614378084);
INSERT INTO public.schema_migrations VALUES (5, 1796614378087);
INSERT INTO public.schema_migrations VALUES (6, 1796614378088);
INSERT INTO public.schema_migrations VALUES (7, 1796614378090);
INSERT INTO public.schema_migrations VALUES (8, 1796614378090);
INSERT INTO public.schema_migrations VALUES (9, 1796614378092);
INSERT INTO public.schema_migrations VALUES (10, 1796614378092);
INSERT INTO public.schema_migrations VALUES (11, 1796614378095);
INSERT INTO public.schema_migrations VALUES (12, 1796614378096);
INSERT INTO public.schema_migrations VALUES (13, 1796614378098);


--
-- Data for Name: sealed_values_bound; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sealed_values_bound VALUES (1, 1796614378453);


--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.users VALUES (1, 'root', 1, 1796614379002, 1, 0, NULL, NULL, '$argon2id$v=19$m=19456,t=2,p=1$XpS1xJVHkufKReq+DXkSWQ$tpySsqXDy/UmqWDZIQFjJtcCmistyQfz/gy8ovcxIh4');
INSERT INTO public.users VALUES (2, 'mia', 0, 1796614379702, 1, 0, NULL, NULL, NULL);
INSERT INTO public.users VALUES (3, 'carol', 0, 1796614380427, 0, 1, 4070995200000, 1906588800000, NULL);
INSERT INTO public.users VALUES (4, 'dave', 0, 1796614382095, 0, 0, 978393600000, NULL, NULL);
INSERT INTO public.users VALUES (5, 'ops', 1, 1796614397120, 1, 0, NULL, NULL, NULL);


--
-- Data for Name: versions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.versions VALUES (1, 1, '1.2.3', '1.2.3.0', '9b8d993c6fddc30c3de3d43e327f4d0e4b4bf169', '9b8d993c6fddc30c3de3d43e327f4d0e4b4bf169', 'artifact', '9b8d993c6fddc30c3de3d43e327f4d0e4b4bf169.zip', '{"license":"MIT","description":"An uploaded library","type":"symfony-bundle"}', 1796614390978, 1796614390980);
INSERT INTO public.versions VALUES (2, 2, 'v1.0.0', '1.0.0.0', 'ac2878ffed6da4b76b496bf70de2469ef8167f2b', '', 'dist', 'acme/gitlib/v1.0.0-ac2878ffed6da4b76b496bf70de2469ef8167f2b.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo","reference":"ac2878ffed6da4b76b496bf70de2469ef8167f2b"}}', 1796614226000, 1796614391861);
INSERT INTO public.versions VALUES (3, 2, 'v1.1.0', '1.1.0.0', '01414720f267106a392a0097e22da6c89afdeee6', '', 'dist', 'acme/gitlib/v1.1.0-01414720f267106a392a0097e22da6c89afdeee6.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo","reference":"01414720f267106a392a0097e22da6c89afdeee6"}}', 1796614226000, 1796614391861);
INSERT INTO public.versions VALUES (4, 2, 'dev-main', 'dev-main', '01414720f267106a392a0097e22da6c89afdeee6', '', 'dist', 'acme/gitlib/dev-main-01414720f267106a392a0097e22da6c89afdeee6.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo","reference":"01414720f267106a392a0097e22da6c89afdeee6"},"default-branch":true}', 1796614226000, 1796614391861);
INSERT INTO public.versions VALUES (5, 3, 'v1.0.0', '1.0.0.0', 'ac2878ffed6da4b76b496bf70de2469ef8167f2b', '', 'dist', 'acme/private/v1.0.0-ac2878ffed6da4b76b496bf70de2469ef8167f2b.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"ac2878ffed6da4b76b496bf70de2469ef8167f2b"}}', 1796614226000, 1796614392921);
INSERT INTO public.versions VALUES (6, 3, 'v1.1.0', '1.1.0.0', '01414720f267106a392a0097e22da6c89afdeee6', '', 'dist', 'acme/private/v1.1.0-01414720f267106a392a0097e22da6c89afdeee6.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"01414720f267106a392a0097e22da6c89afdeee6"}}', 1796614226000, 1796614392922);
INSERT INTO public.versions VALUES (7, 3, 'v2.0.0', '2.0.0.0', '16476866fe2a42cbec6defa1b1af115c7164548f', '', 'dist', 'acme/private/v2.0.0-16476866fe2a42cbec6defa1b1af115c7164548f.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"16476866fe2a42cbec6defa1b1af115c7164548f"}}', 1796614265000, 1796614392922);
INSERT INTO public.versions VALUES (8, 3, 'dev-main', 'dev-main', '16476866fe2a42cbec6defa1b1af115c7164548f', '', 'dist', 'acme/private/dev-main-16476866fe2a42cbec6defa1b1af115c7164548f.zip', '{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"16476866fe2a42cbec6defa1b1af115c7164548f"},"default-branch":true}', 1796614265000, 1796614392922);


--
-- Data for Name: web_sessions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.web_sessions VALUES ('b36a0d7677a18fe2588060ab639455ef709090157971248e29095dc715534e16', 1, 'J3AM7I3B90fSSpeWFLVDeS1NqOtM-mE7VGAFUH83HdM', 1796614400209, 1796657600209);


--
-- Data for Name: webhook_attempts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.webhook_attempts VALUES (1, 1, 1796614401289, 0, NULL, 'could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)', NULL);


--
-- Data for Name: webhook_deliveries; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.webhook_deliveries VALUES (1, '4f2f1673-edb2-4098-97fc-d009811d9005', 1, 'security_advisory', 'acme/lib', '{"event":"security_advisory","delivery":"4f2f1673-edb2-4098-97fc-d009811d9005","hook":"ci","occurred_at":"2026-12-07T03:33:21+00:00","repository":null,"package":{"name":"acme/lib","url":null},"advisory":{"advisoryId":"PKYSA-9f45-eaf9-480c","packageName":"acme/lib","affectedVersions":"<1.0","title":"Second","sources":[{"name":"packyard","remoteId":"PKYSA-9f45-eaf9-480c"}],"reportedAt":"2026-12-07 03:33:21","cve":null,"link":null,"severity":null}}', 1796614401076, NULL);


--
-- Data for Name: webhooks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.webhooks VALUES (1, 'ci', 'http://127.0.0.1:59999/hook', 'new_release,security_advisory', 'acme/*', 'v3:aOIJQJDxzRsA4un8v95GEiKxqHgs0B+bvf8bBXAtdJP3XsZ39nBSm2axVCr7TJjjKYE1b9XrMQ==', 1796614396175);


--
-- Name: advisories_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.advisories_id_seq', 2, true);


--
-- Name: api_tokens_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.api_tokens_id_seq', 7, true);


--
-- Name: groups_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.groups_id_seq', 1, true);


--
-- Name: jobs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.jobs_id_seq', 1, true);


--
-- Name: packages_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.packages_id_seq', 3, true);


--
-- Name: users_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.users_id_seq', 5, true);


--
-- Name: versions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.versions_id_seq', 8, true);


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.webhook_attempts_id_seq', 1, true);


--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.webhook_deliveries_id_seq', 1, true);


--
-- Name: webhooks_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.webhooks_id_seq', 1, true);


--
-- Name: access_stamp access_stamp_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_stamp
    ADD CONSTRAINT access_stamp_pkey PRIMARY KEY (id);


--
-- Name: advisories advisories_advisory_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.advisories
    ADD CONSTRAINT advisories_advisory_id_key UNIQUE (advisory_id);


--
-- Name: advisories advisories_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.advisories
    ADD CONSTRAINT advisories_pkey PRIMARY KEY (id);


--
-- Name: api_tokens api_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);


--
-- Name: api_tokens api_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash);


--
-- Name: catalogue_stamp catalogue_stamp_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.catalogue_stamp
    ADD CONSTRAINT catalogue_stamp_pkey PRIMARY KEY (id);


--
-- Name: download_counts download_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.download_counts
    ADD CONSTRAINT download_counts_pkey PRIMARY KEY (package_id, version);


--
-- Name: download_days download_days_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.download_days
    ADD CONSTRAINT download_days_pkey PRIMARY KEY (package_id, version, day);


--
-- Name: group_grants group_grants_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.group_grants
    ADD CONSTRAINT group_grants_pkey PRIMARY KEY (group_id, package);


--
-- Name: group_members group_members_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.group_members
    ADD CONSTRAINT group_members_pkey PRIMARY KEY (group_id, user_id);


--
-- Name: groups groups_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.groups
    ADD CONSTRAINT groups_name_key UNIQUE (name);


--
-- Name: groups groups_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.groups
    ADD CONSTRAINT groups_pkey PRIMARY KEY (id);


--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);


--
-- Name: mirror_approvals mirror_approvals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mirror_approvals
    ADD CONSTRAINT mirror_approvals_pkey PRIMARY KEY (alias, package);


--
-- Name: mirror_download_days mirror_download_days_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mirror_download_days
    ADD CONSTRAINT mirror_download_days_pkey PRIMARY KEY (alias, package, version, day);


--
-- Name: package_readmes package_readmes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.package_readmes
    ADD CONSTRAINT package_readmes_pkey PRIMARY KEY (package_id);


--
-- Name: packages packages_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.packages
    ADD CONSTRAINT packages_name_key UNIQUE (name);


--
-- Name: packages packages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.packages
    ADD CONSTRAINT packages_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: sealed_values_bound sealed_values_bound_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.sealed_values_bound
    ADD CONSTRAINT sealed_values_bound_pkey PRIMARY KEY (id);


--
-- Name: users users_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_name_key UNIQUE (name);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: versions versions_package_id_version_normalized_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.versions
    ADD CONSTRAINT versions_package_id_version_normalized_key UNIQUE (package_id, version_normalized);


--
-- Name: versions versions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.versions
    ADD CONSTRAINT versions_pkey PRIMARY KEY (id);


--
-- Name: web_sessions web_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.web_sessions
    ADD CONSTRAINT web_sessions_pkey PRIMARY KEY (secret_hash);


--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id);


--
-- Name: webhook_deliveries webhook_deliveries_delivery_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_delivery_id_key UNIQUE (delivery_id);


--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);


--
-- Name: webhooks webhooks_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_name_key UNIQUE (name);


--
-- Name: webhooks webhooks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_pkey PRIMARY KEY (id);


--
-- Name: advisories_package; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX advisories_package ON public.advisories USING btree (package_id);


--
-- Name: api_tokens_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_tokens_user ON public.api_tokens USING btree (user_id);


--
-- Name: api_tokens_user_name; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX api_tokens_user_name ON public.api_tokens USING btree (user_id, name);


--
-- Name: group_members_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX group_members_user ON public.group_members USING btree (user_id);


--
-- Name: jobs_active; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_active ON public.jobs USING btree (id) WHERE (state = ANY (ARRAY['queued'::text, 'running'::text]));


--
-- Name: jobs_dedupe_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_dedupe_created ON public.jobs USING btree (dedupe_key, created_at) WHERE (dedupe_key IS NOT NULL);


--
-- Name: jobs_finished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_finished ON public.jobs USING btree (finished_at) WHERE (state = ANY (ARRAY['succeeded'::text, 'failed'::text]));


--
-- Name: jobs_queued_dedupe; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX jobs_queued_dedupe ON public.jobs USING btree (dedupe_key) WHERE (state = 'queued'::text);


--
-- Name: jobs_state; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX jobs_state ON public.jobs USING btree (state, id);


--
-- Name: login_failures_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_subject ON public.login_failures USING btree (subject, failed_at);


--
-- Name: mirror_download_days_package; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX mirror_download_days_package ON public.mirror_download_days USING btree (package);


--
-- Name: packages_repository_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX packages_repository_key ON public.packages USING btree (repository_key);


--
-- Name: versions_reference; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX versions_reference ON public.versions USING btree (package_id, reference);


--
-- Name: web_sessions_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX web_sessions_user ON public.web_sessions USING btree (user_id);


--
-- Name: webhook_attempts_delivery; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_attempts_delivery ON public.webhook_attempts USING btree (delivery_id);


--
-- Name: webhook_deliveries_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_created ON public.webhook_deliveries USING btree (created_at);


--
-- Name: webhook_deliveries_hook; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_hook ON public.webhook_deliveries USING btree (webhook_id, created_at);


--
-- Name: packages catalogue_packages_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER catalogue_packages_changed AFTER INSERT OR DELETE OR UPDATE ON public.packages FOR EACH STATEMENT EXECUTE FUNCTION public.catalogue_changed();


--
-- Name: advisories advisories_package_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.advisories
    ADD CONSTRAINT advisories_package_id_fkey FOREIGN KEY (package_id) REFERENCES public.packages(id) ON DELETE CASCADE;


--
-- Name: api_tokens api_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: download_counts download_counts_package_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.download_counts
    ADD CONSTRAINT download_counts_package_id_fkey FOREIGN KEY (package_id) REFERENCES public.packages(id) ON DELETE CASCADE;


--
-- Name: download_days download_days_package_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.download_days
    ADD CONSTRAINT download_days_package_id_fkey FOREIGN KEY (package_id) REFERENCES public.packages(id) ON DELETE CASCADE;


--
-- Name: group_grants group_grants_group_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.group_grants
    ADD CONSTRAINT group_grants_group_id_fkey FOREIGN KEY (group_id) REFERENCES public.groups(id) ON DELETE CASCADE;


--
-- Name: group_members group_members_group_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.group_members
    ADD CONSTRAINT group_members_group_id_fkey FOREIGN KEY (group_id) REFERENCES public.groups(id) ON DELETE CASCADE;


--
-- Name: group_members group_members_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.group_members
    ADD CONSTRAINT group_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: package_readmes package_readmes_package_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.package_readmes
    ADD CONSTRAINT package_readmes_package_id_fkey FOREIGN KEY (package_id) REFERENCES public.packages(id) ON DELETE CASCADE;


--
-- Name: versions versions_package_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.versions
    ADD CONSTRAINT versions_package_id_fkey FOREIGN KEY (package_id) REFERENCES public.packages(id) ON DELETE CASCADE;


--
-- Name: webhook_attempts webhook_attempts_delivery_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.webhook_deliveries(id) ON DELETE CASCADE;


--
-- Name: webhook_deliveries webhook_deliveries_webhook_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES public.webhooks(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


