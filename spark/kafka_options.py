"""A ``KafkaConnection`` as Spark source options, ``kafka.``-prefixed: in librdkafka's names for
``tillflow_kafka`` (its readers are confluent-kafka clients) and in the Java client's for the
native ``kafka`` format (the connector jar's clients)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tillflow.config import KafkaConnection

PREFIX: Final = "kafka."

#: Connection keys the Java client reads under the same name and meaning.
_SAME_IN_JAVA: Final = frozenset(
    {
        "bootstrap.servers",
        "client.id",
        "client.rack",
        "security.protocol",
        "ssl.endpoint.identification.algorithm",
        "ssl.key.password",
        "sasl.kerberos.service.name",
    }
)
_SCRAM: Final = "org.apache.kafka.common.security.scram.ScramLoginModule"
#: The Java login module of each SASL mechanism that takes a username and a password.
_LOGIN_MODULES: Final = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": _SCRAM,
    "SCRAM-SHA-512": _SCRAM,
}


def source_options(connection: KafkaConnection) -> dict[str, str]:
    """``tillflow_kafka``'s options for ``connection`` (``kafka.<librdkafka key>``)."""
    return {PREFIX + k: v for k, v in connection.client_config().items()}


def connection_from_options(options: Mapping[str, str]) -> KafkaConnection:
    """The connection ``source_options`` wrote (keys in any case: Spark's options are
    case-insensitive); a bare ``bootstrap`` option is read too."""
    found = {
        k.lower()[len(PREFIX) :]: v for k, v in options.items() if k.lower().startswith(PREFIX)
    }
    return KafkaConnection.from_config(found, options.get("bootstrap"))


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def native_options(connection: KafkaConnection) -> dict[str, str]:
    """The native ``kafka`` format's options for ``connection``: librdkafka's SASL username and
    password become a ``sasl.jaas.config``, ``ssl.ca.location`` a PEM trust store. A key with
    no Java equivalent here is an error, not dropped: a client that silently connects without
    it fails later and less clearly."""
    keys = connection.client_config()
    java: dict[str, str] = {}
    mechanism = keys.pop("sasl.mechanisms", None) or keys.pop("sasl.mechanism", None)
    if mechanism:
        java["sasl.mechanism"] = mechanism
    username, password = keys.pop("sasl.username", None), keys.pop("sasl.password", None)
    if username is not None or password is not None:
        module = _LOGIN_MODULES.get((mechanism or "PLAIN").upper())
        if module is None:
            raise ValueError(f"sasl.username/password with mechanism {mechanism}: no Java login")
        java["sasl.jaas.config"] = (
            f"{module} required username={_jaas_quote(username or '')}"
            f" password={_jaas_quote(password or '')};"
        )
    ca = keys.pop("ssl.ca.location", None)
    if ca:
        java["ssl.truststore.type"] = "PEM"
        java["ssl.truststore.location"] = ca
    unknown = sorted(k for k in keys if k not in _SAME_IN_JAVA)
    if unknown:
        raise ValueError(
            f"no Java Kafka client equivalent for {unknown}: the native kafka format cannot use"
            " this connection (run the engine fused or python)"
        )
    java.update(keys)
    return {PREFIX + k: v for k, v in java.items()}
