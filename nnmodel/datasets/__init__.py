"""Datasets: IDX/CSV readers, the MNIST directory loader, downloads, the sample, users' own data files."""
from nnmodel.datasets.csvdata import read_mnist_csv
from nnmodel.datasets.download import download_mnist
from nnmodel.datasets.idx import read_idx, write_idx
from nnmodel.datasets.mnist import Dataset, load_idx_pair, load_mnist, load_sample
from nnmodel.datasets.samples import Samples, check_shape, load_samples

__all__ = ["Dataset", "Samples", "check_shape", "download_mnist", "load_idx_pair", "load_mnist", "load_sample",
           "load_samples", "read_idx", "read_mnist_csv", "write_idx"]
