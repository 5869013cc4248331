"""Datasets for calibration and evaluation: IDX/CSV readers, the MNIST directory loader, downloads, the sample."""
from nnmodel.datasets.csvdata import read_mnist_csv
from nnmodel.datasets.download import download_mnist
from nnmodel.datasets.idx import read_idx, write_idx
from nnmodel.datasets.mnist import Dataset, load_idx_pair, load_mnist, load_sample

__all__ = ["Dataset", "download_mnist", "load_idx_pair", "load_mnist", "load_sample", "read_idx",
           "read_mnist_csv", "write_idx"]
