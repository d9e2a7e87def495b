"""A passport as a CycloneDX 1.6 ML-BOM (``cyclonedx-python-lib``, the optional extra
``passport``): every component of the release with its sha256, the models as
``machine-learning-model`` components, training data and golden cases as ``data``, and the
environment lock as PyPI libraries. kaskad's own facts travel as ``kaskad:*`` properties."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kaskad.extras import has_module, missing_extra
from kaskad.passport.facts import Passport, PassportError

if TYPE_CHECKING:
    from cyclonedx.model.component import Component

__all__ = ["cyclonedx_json"]


def cyclonedx_json(passport: Passport) -> str:
    """The CycloneDX JSON document of ``passport``."""
    if not has_module("cyclonedx"):
        raise PassportError(
            missing_extra("a passport as CycloneDX", "cyclonedx-python-lib", "passport")
        )
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    def sha(value: str) -> list[HashType]:
        return [HashType(alg=HashAlgorithm.SHA_256, content=value)]

    def props(values: dict[str, Any]) -> list[Property]:
        return [
            Property(name=f"kaskad:{k}", value=v if isinstance(v, str) else json.dumps(v))
            for k, v in values.items()
            if v not in (None, "", [], {})
        ]

    p = passport
    release = Component(
        type=ComponentType.APPLICATION,
        name=p.release["pipeline"],
        version=str(p.release["number"]),
        bom_ref=p.release["ref"],
        description=p.purpose["description"] or None,
        properties=props(
            {
                "plan_hash": p.release["plan_hash"],
                "owner": p.purpose["owner"],
                "purpose": p.purpose["purpose"],
                "created_at": p.release["created_at"],
                "created_by": p.release["created_by"],
                "stages": p.release["stages"],
            }
        ),
    )
    models = {m["name"]: m for m in p.models}
    components: list[Component] = []
    for c in p.components:
        model = models.get(c["name"]) if c["kind"] == "model" else None
        extra: dict[str, Any] = {"kind": c["kind"], "file": c["source"]}
        if model is not None:
            extra |= {
                "artifact_sha256": model["artifact_sha256"],
                "framework": model["framework"],
                "role": model["role"],
                "inputs": model["inputs"],
                "outputs": model["outputs"],
                "registered": [v["ref"] for v in model["registered"]],
            }
        components.append(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL if model else ComponentType.FILE,
                name=c["name"],
                bom_ref=f"{c['kind']}:{c['name']}:{c['sha256'][:12]}",
                hashes=sha(c["sha256"]),
                properties=props(extra),
            )
        )
    for model in p.models:
        for version in model["registered"]:
            data = version["training_data"]
            if data and data.get("sha256"):
                components.append(
                    Component(
                        type=ComponentType.DATA,
                        name=f"training data of {version['ref']}",
                        bom_ref=f"training:{version['ref']}",
                        hashes=sha(data["sha256"]),
                        properties=props({"rows": data["rows"]}),
                    )
                )
    if p.golden["sha256"]:
        components.append(
            Component(
                type=ComponentType.DATA,
                name=f"golden cases of {p.release['ref']}",
                bom_ref=f"golden:{p.release['ref']}",
                hashes=sha(p.golden["sha256"]),
                properties=props(
                    {"count": p.golden["count"], "differences": p.golden["difference_count"]}
                ),
            )
        )
    for name, version in p.environment["packages"].items():
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=name,
                version=version,
                bom_ref=f"pypi:{name}@{version}",
                purl=PackageURL(type="pypi", name=name, version=version),
            )
        )
    bom = Bom(components=components)
    bom.metadata.component = release
    bom.metadata.properties.update(
        props({"python": p.environment["python"], "platform": p.environment["platform"]})
    )
    for component in components:
        bom.register_dependency(release, [component])
    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    return text
