"""The city's organisation as the demo (and a fresh install) knows it: real Surabaya OPDs,
their field service categories and the outcome indicator each category serves, and where each
unit's office is taken to stand (data/surabaya/unit_offices.csv, its basis in SOURCE.md)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

OFFICES_FILE = Path(__file__).parent / "data" / "surabaya" / "unit_offices.csv"

ROOT_UNIT = ("PEMKOT", "Pemerintah Kota Surabaya")

OPDS: list[tuple[str, str]] = [
    ("DINKES", "Dinas Kesehatan"),
    ("DINSOS", "Dinas Sosial"),
    ("DISPENDUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil"),
    ("DLH", "Dinas Lingkungan Hidup"),
    ("SATPOLPP", "Satuan Polisi Pamong Praja"),
    ("DP3APPKB", "Dinas Pemberdayaan Perempuan dan Perlindungan Anak serta Pengendalian "
                 "Penduduk dan Keluarga Berencana"),
]


@dataclass(frozen=True)
class Service:
    category: str
    category_name: str
    unit: str
    indicator: str
    indicator_name: str
    met_rate: float        # share of visits whose outcome is met, on average
    citizens: float        # mean citizens served per visit
    weight: float          # share of all field activity


SERVICES: list[Service] = [
    Service("POSYANDU", "Pendampingan posyandu balita", "DINKES",
            "BALITA_DITIMBANG", "Balita ditimbang dan diukur", 0.86, 14, 0.16),
    Service("HOME_CARE", "Layanan kesehatan lansia dan disabilitas di rumah", "DINKES",
            "LANSIA_TERLAYANI", "Lansia/disabilitas terlayani di rumah", 0.9, 2, 0.12),
    Service("BANSOS_VERIF", "Verifikasi lapangan bantuan sosial", "DINSOS",
            "BANSOS_TERVERIFIKASI", "Keluarga penerima bansos terverifikasi", 0.78, 3, 0.14),
    Service("ADMINDUK", "Layanan adminduk jemput bola (KTP-el, KK, akta)", "DISPENDUKCAPIL",
            "DOKUMEN_TERBIT", "Dokumen kependudukan terbit", 0.82, 6, 0.15),
    Service("ADUAN_SAMPAH", "Penanganan aduan sampah dan kebersihan", "DLH",
            "ADUAN_SELESAI", "Aduan kebersihan selesai ditangani", 0.74, 4, 0.12),
    Service("TRANTIB", "Patroli ketenteraman dan ketertiban umum", "SATPOLPP",
            "PELANGGARAN_DITERTIBKAN", "Pelanggaran perda ditertibkan", 0.7, 5, 0.1),
    Service("PERLINDUNGAN_ANAK", "Pendampingan perlindungan perempuan dan anak", "DP3APPKB",
            "KASUS_TERTANGANI", "Kasus kekerasan tertangani", 0.68, 2, 0.06),
    Service("LAYANAN_KELURAHAN", "Pelayanan kelurahan keliling dan aduan warga", "PEMKOT",
            "ADUAN_WARGA_SELESAI", "Aduan warga (WargaKu) selesai", 0.8, 8, 0.15),
]


@dataclass(frozen=True)
class Office:
    unit: str
    lon: float
    lat: float
    basis: str      # "source" (a cited location) or "stand-in" (see the note and SOURCE.md)


def offices() -> list[Office]:
    with OFFICES_FILE.open(newline="", encoding="utf-8") as f:
        return [Office(r["unit_code"], float(r["lon"]), float(r["lat"]), r["basis"])
                for r in csv.DictReader(f)]
